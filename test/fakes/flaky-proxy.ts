import { createServer, request as forward } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request. */
export type ProxyFault =
  /** Answers 429/503 with this Retry-After without passing the request on. */
  | { kind: 'refuse'; status: 429 | 503; retryAfter?: string }
  /** Passes the request on, then drops the server's answer and says 503 (a response lost on the way). */
  | { kind: 'lose-answer' };

export interface FlakyProxy {
  url: string;
  /** The next requests meet these faults, in order; later ones pass through. */
  arrange(...faults: ProxyFault[]): void;
  /** Every request seen: method, path, idempotency key header and when it arrived. */
  readonly seen: { method: string; path: string; idempotencyKey: string | null; at: number }[];
  close(): Promise<void>;
}

/**
 * A real HTTP proxy on 127.0.0.1 in front of a Tidings server, for the client's retry tests: it
 * answers 429/503 as an overloaded server (or a load balancer) would, or loses an answer after
 * the server acted on the request.
 */
export async function startFlakyProxy(target: string): Promise<FlakyProxy> {
  const faults: ProxyFault[] = [];
  const seen: FlakyProxy['seen'] = [];
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const key = req.headers['idempotency-key'];
    seen.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      idempotencyKey: typeof key === 'string' ? key : null,
      at: Date.now(),
    });
    const fault = faults.shift();
    if (fault?.kind === 'refuse') {
      req.resume();
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      res.writeHead(fault.status, headers);
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'busy', details: [] } }));
      return;
    }
    const out = forward(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        if (fault?.kind === 'lose-answer') {
          answer.resume();
          answer.on('end', () => {
            res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
            res.end(JSON.stringify({ error: { code: 'unavailable', message: 'lost', details: [] } }));
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrange: (...more) => faults.push(...more),
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
