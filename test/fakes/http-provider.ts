import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConformanceFake, FakeRequest } from '../channels/conformance.ts';

/**
 * The HTTP server under every provider fake (Twilio, SendGrid, SES, Slack, Discord): node:http on
 * 127.0.0.1 at a free port, recording each request and answering it with the next arranged
 * answer, or with the provider's own success answer once none is left.
 */

/** One answer, as the provider would send it. */
export interface FakeAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface HttpProviderFake extends ConformanceFake {
  /** `http://127.0.0.1:<port>`: the adapter's `config.endpoint`. */
  readonly url: string;
  /** Answers the next request with this (then back to success). */
  answerNext(answer: FakeAnswer): void;
  /** Resolves once `count` requests arrived (or throws after 5 s). */
  waitFor(count: number): Promise<FakeRequest[]>;
}

/** Starts a fake whose success answer is `success(request)`. */
export async function startHttpProviderFake(
  success: (request: FakeRequest, index: number) => FakeAnswer,
): Promise<HttpProviderFake> {
  const requests: FakeRequest[] = [];
  const arranged: FakeAnswer[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: FakeRequest = {
        method: req.method ?? '',
        path: req.url ?? '/',
        headers: flatten(req.headers),
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      for (const wake of waiters) wake();
      const answer = arranged.shift() ?? success(request, requests.length);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answerNext(answer) {
      arranged.push(answer);
    },
    waitFor(count) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const wake = () => {
          if (requests.length < count) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(requests);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`provider fake: expected ${count} request(s), got ${requests.length}`));
        }, 5_000);
        waiters.add(wake);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A JSON answer. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): FakeAnswer {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
