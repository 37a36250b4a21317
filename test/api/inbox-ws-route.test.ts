import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { capturingLogger } from '../helpers/logs.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
const logs = capturingLogger();

beforeAll(async () => {
  server = await startTestServer({}, undefined, logs.logger);
});

afterAll(() => server?.close());

const ORIGIN = 'https://app.example';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends an upgrade request to `path` with these headers over a raw HTTP/1.1 connection (a
 * WebSocket client would refuse to send most of them) and reads what comes back: the HTTP answer,
 * or the 101 of an accepted handshake (its socket then closed).
 */
function upgrade(path: string, headers: Record<string, string | undefined>): Promise<Answer> {
  const sent: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) sent[name] = value;
  return new Promise((resolve, reject) => {
    const request = http.request(`${server.url}${path}`, { headers: sent });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode ?? 0, headers: response.headers, body: '' });
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

/** A handshake a WebSocket client would send, from a page on ORIGIN. */
function handshakeHeaders(): Record<string, string> {
  return {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': randomBytes(16).toString('base64'),
    origin: ORIGIN,
  };
}

describe('GET /v1/inbox/ws as a route', () => {
  it('is documented in /openapi.json like every other route', async () => {
    const spec = await server.call('GET', '/openapi.json', undefined, { auth: null });
    expect(spec.body.paths['/v1/inbox/ws']?.get).toBeDefined();
  });

  it('answers a plain GET (no upgrade) with 426 upgrade_required, after checking the token', async () => {
    const token = (await server.call('POST', '/v1/subscribers/ws_user/token')).body.token;
    const plain = await server.call('GET', '/v1/inbox/ws', undefined, { auth: token });
    expect(plain.status).toBe(426);
    expect(plain.body.error.code).toBe('upgrade_required');
    // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
    expect(plain.headers.get('upgrade')).toBe('websocket');
    const bad = await server.call('GET', '/v1/inbox/ws', undefined, { auth: 'not.a.token' });
    expect(bad.status).toBe(401);
  });

  it('answers a malformed handshake with the API’s error naming the header, with nosniff and CORS, never ws’s text/html', async () => {
    const token = (await server.call('POST', '/v1/subscribers/ws_handshake/token')).body.token;
    const path = `/v1/inbox/ws?token=${encodeURIComponent(token)}`;
    const cases: [Record<string, string | undefined>, number, string, string][] = [
      [{ 'sec-websocket-key': undefined }, 400, 'validation_failed', 'Sec-WebSocket-Key'],
      [{ 'sec-websocket-key': 'not-a-key' }, 400, 'validation_failed', 'Sec-WebSocket-Key'],
      [
        { 'sec-websocket-key': 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
        400,
        'validation_failed',
        'Sec-WebSocket-Key',
      ],
      [{ 'sec-websocket-version': undefined }, 400, 'validation_failed', 'Sec-WebSocket-Version'],
      [{ 'sec-websocket-version': '12' }, 400, 'validation_failed', 'Sec-WebSocket-Version'],
      [{ 'sec-websocket-version': 'thirteen' }, 400, 'validation_failed', 'Sec-WebSocket-Version'],
      [{ 'sec-websocket-protocol': 'a,,b' }, 400, 'validation_failed', 'Sec-WebSocket-Protocol'],
      [{ 'sec-websocket-protocol': 'chat, chat' }, 400, 'validation_failed', 'Sec-WebSocket-Protocol'],
      [{ upgrade: 'h2c' }, 426, 'upgrade_required', 'Upgrade'],
    ];
    for (const [change, status, code, header] of cases) {
      const what = JSON.stringify(change, (_, value) => value ?? null);
      const answer = await upgrade(path, { ...handshakeHeaders(), ...change });
      expect(answer.status, what).toBe(status);
      expect(answer.headers['content-type'], what).toMatch(/^application\/json/);
      expect(answer.headers['x-content-type-options'], what).toBe('nosniff');
      expect(answer.headers['access-control-allow-origin'], what).toBe(ORIGIN);
      // Its socket is closed after the answer: no client may keep it for another request.
      expect(answer.headers.connection, what).toBe('close');
      const body = JSON.parse(answer.body);
      expect(body.error.code, what).toBe(code);
      expect(
        body.error.details.map((d: { path: string }) => d.path),
        what,
      ).toEqual([header]);
      if (header === 'Sec-WebSocket-Version') expect(answer.headers['sec-websocket-version']).toBe('13, 8');
      if (status === 426) expect(answer.headers.upgrade).toBe('websocket');
    }
    // The token is still checked first; a well-formed handshake is still accepted.
    const unauthorized = await upgrade('/v1/inbox/ws?token=not.a.token', {
      ...handshakeHeaders(),
      'sec-websocket-key': undefined,
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers['x-content-type-options']).toBe('nosniff');
    expect(unauthorized.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(JSON.parse(unauthorized.body).error.code).toBe('unauthorized');
    expect((await upgrade(path, handshakeHeaders())).status).toBe(101);
    expect((await upgrade(path, { ...handshakeHeaders(), 'sec-websocket-protocol': 'a, b' })).status).toBe(
      101,
    );
  });

  it('closes a socket that sends a frame over 4 KB with 1009, logging it as the client’s error, not the server’s', async () => {
    const token = (await server.call('POST', '/v1/subscribers/ws_big/token')).body.token;
    const url = `${server.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'read', itemId: 'x'.repeat(5000) }));
    expect(await closed).toBe(1009);

    const line = await waitFor(
      async () => logs.lines.find((l) => l.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'),
      'the protocol error to be logged',
    );
    expect(line?.level).toBeLessThan(40);
    expect(JSON.stringify(line)).not.toMatch(/stack|at .*\(/);
    expect(logs.lines.filter((l) => l.level >= 50)).toEqual([]);
    // The connection's end is not the server's: other clients go on.
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).status).toBe(200);
  });
});

describe('an upgrade request to any other route', () => {
  /**
   * Sends `request` (raw HTTP/1.1 with Upgrade: websocket) and answers what came back once the
   * server closed the connection; rejects if it is still open after `withinMs` (every such
   * socket left open held a file descriptor for good: anyone without a key could run the server
   * out of connections, and a shutdown waited on them).
   */
  function closedAfter(request: string, withinMs: number): Promise<string> {
    const { port, hostname } = new URL(server.url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname);
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`the server kept the connection open: ${Buffer.concat(chunks).toString('utf8')}`));
      }, withinMs);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      socket.on('error', () => {});
      socket.write(request);
    });
  }

  const upgradeTo = (method: string, path: string, auth?: string) =>
    `${method} ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
    `${auth ? `Authorization: Bearer ${auth}\r\n` : ''}Content-Length: 0\r\n\r\n`;

  it('is answered over HTTP and its connection closed, with a key or without', async () => {
    for (const [method, path, auth, status] of [
      ['GET', '/healthz', undefined, 200],
      ['GET', '/nope', undefined, 401],
      ['GET', '/v1/workflows', undefined, 401],
      ['GET', '/v1/workflows', server.key, 200],
      ['POST', '/v1/events', undefined, 401],
      ['POST', '/v1/inbox/ws', undefined, 401],
      ['GET', '/v1/inbox/ws?token=not-a-token', undefined, 401],
    ] as const) {
      const answer = await closedAfter(upgradeTo(method, path, auth), 3_000);
      expect(answer, `${method} ${path}`).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(answer.toLowerCase()).toContain('x-content-type-options: nosniff');
    }
  });
});
