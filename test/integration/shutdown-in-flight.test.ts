import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { callJson, cleanupChildren, startChild, tempDataDir } from '../helpers/child.ts';
import { migratedDatabaseEnv } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// SIGTERM with a request in flight (issue: graceful shutdown): the request is answered, and the
// process exits at once, even though the client keeps its connection (keep-alive). The connection
// busy at the close used to stay open for Fastify's 72 s keep-alive timeout after its answer, and
// the process with it, past any orchestrator's grace.

const KEY = 'tdk_shutdown_in_flight_key_0123456789';

afterEach(cleanupChildren);

/** Whether a new connection to `port` is refused: the server closed its listening socket. */
async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (response) => {
      response.resume();
      resolve(false);
    });
    probe.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    probe.end();
  });
}

describe('SIGTERM with a request in flight', () => {
  it('answers it and exits without waiting for the client to drop its keep-alive connection', async () => {
    const env = { ...(await migratedDatabaseEnv(tempDataDir('tidings-shutdown-'))), TIDINGS_API_KEY: KEY };
    const child = await startChild(env);
    const workflow = await callJson(`${child.url}/v1/workflows/w`, 'PUT', KEY, {
      channels: [{ channel: 'in_app', template: { title: 'Hi', body: 'b' } }],
    });
    expect(workflow.status).toBe(200);
    const agent = new Agent({ keepAlive: true });
    try {
      const body = JSON.stringify({ workflow: 'w', to: ['in_flight_user'] });
      const answer = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const post = request(
          {
            host: '127.0.0.1',
            port: child.port,
            path: '/v1/events',
            method: 'POST',
            agent,
            headers: {
              authorization: `Bearer ${KEY}`,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              // Node answers `100 Continue` as it hands the request to Fastify: the request is then
              // routed (past the 503 for requests that come after the close) and waits for its body.
              expect: '100-continue',
            },
          },
          (response) => {
            response.resume();
            response.on('end', () =>
              resolve({ status: response.statusCode!, connection: response.headers.connection }),
            );
          },
        );
        post.on('error', reject);
        post.on('continue', () => void closedThenFinish(post));
        post.flushHeaders();
      });
      async function closedThenFinish(post: ReturnType<typeof request>): Promise<void> {
        child.kill('SIGTERM');
        await waitFor(() => refused(child.port), 'the listening socket closed', 10_000, 25);
        post.end(body);
      }

      const { status, connection } = await answer;
      expect(status).toBe(202);
      expect(connection).toBe('close');
      // Exited while the client still holds its pool: not after the 72 s keep-alive timeout.
      const code = await Promise.race([
        child.exited,
        new Promise<string>((resolve) => setTimeout(() => resolve('still running after 8 s'), 8_000)),
      ]);
      expect(code).toBe(0);
    } finally {
      agent.destroy();
    }
  }, 30_000);
});
