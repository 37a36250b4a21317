import type { FastifyInstance } from 'fastify';

/**
 * Once the server is closing, every answer ends its connection. Fastify's close ends the
 * keep-alive connections idle at that moment, but one busy with a request then stayed open after
 * its answer (announced `Keep-Alive: timeout=72`) and held the process: a SIGTERM with a request
 * in flight took 70 s to exit, past the grace an orchestrator gives before its SIGKILL, and the
 * worker of `tidings start` kept claiming meanwhile. So answers sent while closing say
 * `Connection: close`, and one already on the wire when the close began has its connection
 * closed as soon as it is idle.
 *
 * @example
 * closeConnectionsWhenClosing(app); // before app.listen()
 */
export function closeConnectionsWhenClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // Callback hooks: they run for every answer, and an async one costs each a promise.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (_request, _reply, done) => {
    if (closing) app.server.closeIdleConnections();
    done();
  });
}
