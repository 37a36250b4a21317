import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server (node:http on 127.0.0.1, free port) that records every request and answers
 * with scripted responses. For integration and e2e tests of webhook delivery.
 *
 * ```ts
 * const hook = await startWebhookReceiver({ script: [{ status: 503, headers: { 'retry-after': '2' } }] });
 * // first request → 503, later ones → the default 200
 * const [first] = await hook.waitFor(1);
 * new Webhook(secret).verify(first.body, first.headers);
 * await hook.close();
 * ```
 */

/** How to answer one request. */
export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering (to exercise client timeouts). */
  delayMs?: number;
  /** Answer only once this settles (then `delayMs`): holds a request while the test acts. */
  until?: Promise<unknown>;
}

export interface WebhookReceiverOptions {
  /** Answers for the first requests, consumed in order. */
  script?: ScriptedResponse[];
  /** Answer once the script is used up; `{ status: 200 }` by default. */
  defaultResponse?: ScriptedResponse;
  /** Listen on this port (say, one a provider was refusing connections on) rather than a free one. */
  port?: number;
}

/** A request as it arrived. */
export interface ReceivedRequest {
  method: string;
  /** Path and query string. */
  path: string;
  /** Header values, lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** The raw body, exactly as sent (what signatures are computed over). */
  body: string;
  /** The status this request was (or will be) answered with. */
  status: number;
  receivedAt: number;
  /** `JSON.parse(body)`. */
  json(): unknown;
}

export interface WebhookReceiver {
  /** Base URL, e.g. `http://127.0.0.1:54321/`; any path is accepted. */
  readonly url: string;
  readonly port: number;
  /** Every request, in arrival order, including those answered with an error status. */
  readonly received: ReceivedRequest[];
  /** Appends answers to the script (consumed before the default response). */
  respondWith(...responses: ScriptedResponse[]): void;
  /** Replaces the answer used once the script is empty. */
  setDefaultResponse(response: ScriptedResponse): void;
  /** Resolves with `received` once it holds at least `count` requests; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Client connections open now (a killed client's close once this process has read it). */
  openConnections(): Promise<number>;
  /** Forgets received requests and any unused script. */
  reset(): void;
  /** Stops the server, cutting off requests still waiting on a delay. */
  close(): Promise<void>;
}

/** Starts the receiver on 127.0.0.1 at a free port. */
export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const script = [...(options.script ?? [])];
  let fallback: ScriptedResponse = options.defaultResponse ?? { status: 200 };
  const received: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = script.shift() ?? fallback;
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({
        method: req.method ?? '',
        path: req.url ?? '/',
        headers: flattenHeaders(req.headers),
        body,
        status: answer.status,
        receivedAt: Date.now(),
        json: () => JSON.parse(body),
      });
      for (const wake of waiters) wake();
      const reply = () => {
        if (timer) timers.delete(timer);
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body ?? '');
      };
      let timer: NodeJS.Timeout | undefined;
      const answerLater = () => {
        timer = setTimeout(reply, answer.delayMs ?? 0);
        timers.add(timer);
      };
      if (answer.until) void answer.until.finally(answerLater);
      else answerLater();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    received,
    respondWith(...responses) {
      script.push(...responses);
    },
    setDefaultResponse(response) {
      fallback = response;
    },
    openConnections: () =>
      new Promise<number>((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count))),
    waitFor(count, timeoutMs = 5_000) {
      if (received.length >= count) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const wake = () => {
          if (received.length < count) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(received);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`webhook receiver: expected ${count} request(s), got ${received.length}`));
        }, timeoutMs);
        waiters.add(wake);
      });
    },
    reset() {
      received.length = 0;
      script.length = 0;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets and delayed requests would otherwise hold close() open.
        server.closeAllConnections();
      });
    },
  };
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
