import { type AddressInfo, createServer, type Socket } from 'node:net';

/**
 * A local SMTP tarpit: a `node:net` server speaking plain SMTP (no TLS, no extensions) that holds
 * each reply back for `delayMs` — the greeting, EHLO, MAIL, RCPT, DATA and the final dot — and
 * then accepts the message. With the delay just under a client's inactivity timeout, no single
 * pause trips it, and a session takes six delays. With a short delay it is a slow but healthy
 * relay instead: a message on an open connection takes four (MAIL, RCPT, DATA, the dot). `delayMs` can change at any time (0 heals it);
 * a reply already held keeps the delay it was given. Like a real tarpit it never closes a
 * connection of its own accord, not even its half after the client's FIN: a client that only
 * half-closes keeps its socket until it destroys it.
 *
 * ```ts
 * const tarpit = await startSmtpTarpit({ delayMs: 700 });
 * // … a send to tarpit.host:tarpit.port runs into its deadline …
 * await tarpit.allHungUp();
 * tarpit.delayMs = 0;
 * // … the next send goes through; tarpit.received.length === 1 …
 * await tarpit.close();
 * ```
 */
export interface SmtpTarpit {
  readonly host: string;
  readonly port: number;
  /** How long each reply is held back from now on. */
  delayMs: number;
  /** Connections ever accepted. */
  readonly connections: number;
  /** Connections whose client has not hung up (sent FIN or reset) yet. */
  readonly open: number;
  /** The DATA of every message accepted, in order. */
  readonly received: string[];
  /** Resolves once the client hung up every connection; rejects after `timeoutMs`. */
  allHungUp(timeoutMs?: number): Promise<void>;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

export async function startSmtpTarpit(options: { delayMs: number }): Promise<SmtpTarpit> {
  const sockets = new Set<Socket>();
  const live = new Set<Socket>();
  const received: string[] = [];
  const hangUpWaiters = new Set<() => void>();
  let connections = 0;
  const state = { delayMs: options.delayMs };

  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    sockets.add(socket);
    live.add(socket);
    const hungUp = () => {
      live.delete(socket);
      for (const wake of hangUpWaiters) wake();
    };
    socket.on('end', hungUp);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      hungUp();
    });
    // One close listener for all held replies: a connection that carries many messages holds many.
    const held = new Set<NodeJS.Timeout>();
    socket.once('close', () => {
      for (const timer of held) clearTimeout(timer);
    });
    const reply = (line: string) => {
      const timer = setTimeout(() => {
        held.delete(timer);
        if (!socket.destroyed) socket.write(`${line}\r\n`);
      }, state.delayMs);
      held.add(timer);
    };
    let buffered = '';
    let data: string[] | null = null;
    reply('220 tarpit.test ESMTP');
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n'); end !== -1; end = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (data) {
          if (line !== '.') data.push(line.startsWith('..') ? line.slice(1) : line);
          else {
            received.push(data.join('\r\n'));
            data = null;
            reply('250 2.0.0 Ok: queued');
          }
          continue;
        }
        const verb = line.split(' ')[0]?.toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') reply('250 tarpit.test');
        else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP')
          reply('250 2.0.0 Ok');
        else if (verb === 'DATA') {
          data = [];
          reply('354 End data with <CR><LF>.<CR><LF>');
        } else if (verb === 'QUIT') {
          setTimeout(() => socket.end('221 2.0.0 Bye\r\n'), state.delayMs);
        } else reply('502 5.5.2 Command not recognized');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value: number) {
      state.delayMs = value;
    },
    get connections() {
      return connections;
    },
    get open() {
      return live.size;
    },
    received,
    allHungUp(timeoutMs = 2_000) {
      if (live.size === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const wake = () => {
          if (live.size > 0) return;
          clearTimeout(timer);
          hangUpWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(() => {
          hangUpWaiters.delete(wake);
          reject(new Error(`smtp tarpit: ${live.size} connection(s) still open after ${timeoutMs} ms`));
        }, timeoutMs);
        hangUpWaiters.add(wake);
      });
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
