import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { openSse } from '../helpers/sse.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const TIMEOUT_MS = 500;

/**
 * TIDINGS_REQUEST_TIMEOUT_MS: a client that never finishes sending its request (a slow-body or
 * slow-header attack, here on the unauthenticated one-click unsubscribe route) loses its
 * connection once the timeout passes; streams, once open, are not requests being received and
 * stay open.
 */
describe('TIDINGS_REQUEST_TIMEOUT_MS', () => {
  let server: TestServer;
  let port: number;

  beforeAll(async () => {
    server = await startTestServer({ TIDINGS_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server?.close();
  });

  /** A raw connection, and when the server closed it (ms after `open`), once it has. */
  async function rawConnection(): Promise<{
    socket: Socket;
    closedAfter: () => number | null;
    received: () => string;
  }> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const openedAt = performance.now();
    let closedAt: number | null = null;
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closedAt = performance.now();
    });
    return {
      socket,
      closedAfter: () => (closedAt === null ? null : closedAt - openedAt),
      received: () => received,
    };
  }

  it('closes a connection whose body never arrives in full', async () => {
    const { socket, closedAfter } = await rawConnection();
    socket.write(
      'POST /v1/unsubscribe/slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
        'Content-Length: 1000\r\n\r\nList-Unsubscribe=',
    );
    const after = await waitFor(closedAfter, 'the server to close the connection', 10_000);
    expect(after).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(after).toBeLessThan(TIMEOUT_MS * 4);
  });

  it('closes a connection whose headers never end', async () => {
    const { socket, closedAfter } = await rawConnection();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const after = await waitFor(closedAfter, 'the server to close the connection', 10_000);
    expect(after).toBeLessThan(TIMEOUT_MS * 4);
  });

  it('answers a request sent in time, and keeps the connection for the next', async () => {
    const { socket, received, closedAfter } = await rawConnection();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(() => received().startsWith('HTTP/1.1 200'), 'the answer');
    // Idle between requests is keep-alive's business (72 s), not the request timeout's.
    await sleep(TIMEOUT_MS * 3);
    expect(closedAfter()).toBeNull();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(() => received().split('HTTP/1.1 200').length === 3, 'the second answer');
    socket.destroy();
  });

  it('leaves open SSE and WebSocket streams open past it', async () => {
    const token = (await server.call('POST', '/v1/subscribers/slow-reader/token')).body.token as string;
    const sse = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    const ws = new WebSocket(
      `${server.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`,
    );
    let wsClosed = false;
    ws.on('close', () => {
      wsClosed = true;
    });
    let sseEnded = false;
    void sse.ended.then(() => {
      sseEnded = true;
    });
    try {
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      await sse.next('ready');
      await sleep(TIMEOUT_MS * 4);
      expect(sseEnded).toBe(false);
      expect(wsClosed).toBe(false);
    } finally {
      sse.close();
      ws.close();
    }
  });
});
