import { randomBytes } from 'node:crypto';
import { connect as connectTcp, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { longestStall } from '../helpers/event-loop.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: stream events are read field by field and checked by assertions
type Json = any;

/**
 * Actions a client sends over `GET /v1/inbox/ws` (read, archive, seen, read-all) run one at a
 * time. Found by the hostile-input sweep: nothing bounded how many waited, and on SQLite (whose
 * writes are synchronous) a chain of them never gave the event loop back — the 1,000 `seen`
 * frames of one 64 KB read held every other caller for seconds.
 */
describe('Hostile input: a WebSocket client flooding actions', () => {
  let server: TestServer;
  let item: string;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    const put = await server.call('PUT', '/v1/workflows/ws-flood', {
      channels: [{ channel: 'in_app', template: { title: 'Hi' } }],
    });
    expect(put.status).toBe(200);
    const event = await server.call('POST', '/v1/events', { workflow: 'ws-flood', to: ['ws-flooder'] });
    item = await waitFor(async () => {
      const view = await server.call('GET', `/v1/events/${event.body.eventId}`);
      return view.body.messages?.find((m: Json) => m.status === 'delivered')?.messageId ?? null;
    }, 'the inbox item');
    token = (await server.call('POST', '/v1/subscribers/ws-flooder/token')).body.token;
  });

  afterAll(async () => {
    await server?.close();
  });

  /** A connected socket, once `ready` came; `updates` counts the item.updated events since. */
  async function connect(): Promise<{ socket: WebSocket; updates: () => number }> {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/inbox/ws?token=${token}`);
    let updates = 0;
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data) => {
        const event = JSON.parse(String(data));
        if (event.type === 'ready') resolve();
        if (event.type === 'item.updated') updates++;
      });
      socket.once('error', reject);
    });
    return { socket, updates: () => updates };
  }

  /**
   * A raw WebSocket client: the frames are built beforehand and written at once, so the test's own
   * work (in this process, beside the server) does not count in the stall measured.
   */
  async function rawConnect(): Promise<{ socket: Socket; received: () => string }> {
    const socket = connectTcp(Number(new URL(server.url).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.write(
      `GET /v1/inbox/ws?token=${token} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n` +
        'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    );
    await waitFor(() => received.includes('"type":"ready"'), 'the ready event');
    return { socket, received: () => received };
  }

  /** A masked client text frame (RFC 6455 §5.2) with the all-zero mask, which leaves the bytes as they are. */
  function textFrame(text: string): Buffer {
    const payload = Buffer.from(text);
    expect(payload.length).toBeLessThan(126);
    return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
  }

  it('a burst of actions does not hold the event loop', async () => {
    const { socket, received } = await rawConnect();
    try {
      // Some 70 KB: about 1,000 actions in the first read.
      const actions = 1_200;
      const burst = Buffer.concat(
        Array.from({ length: actions }, () => textFrame(JSON.stringify({ type: 'seen', itemId: item }))),
      );
      const updates = () => received().split('"type":"item.updated"').length - 1;
      const stall = await longestStall(async () => {
        socket.write(burst);
        await waitFor(() => updates() >= actions, 'every action done', 60_000);
      });
      // Run in one chain on SQLite, the actions of one read held the loop for 2–4 s.
      expect(stall).toBeLessThan(1_000);
    } finally {
      socket.destroy();
    }
  });

  it('a client sending faster than its actions run is not read ahead of them', async () => {
    const { socket, updates } = await connect();
    try {
      // Frames padded to 2 KB (JSON takes the spaces): a read holds few of them, so where the ping
      // sits in the stream says how far the server had read.
      const frame = `{"type":"read-all"}${' '.repeat(2_000)}`;
      const burst = 500;
      const start = performance.now();
      const pong = new Promise<number>((resolve) => socket.once('pong', () => resolve(performance.now())));
      for (let i = 0; i < burst; i++) socket.send(frame);
      socket.ping();
      socket.send(JSON.stringify({ type: 'seen', itemId: item }));
      const before = updates();
      await waitFor(() => updates() > before, 'the last action done', 60_000);
      const end = performance.now();
      // Read ahead, the ping was answered at once, long before the actions were done; read as the
      // actions are done, it is answered only once most of those before it are.
      expect((await pong) - start).toBeGreaterThan((end - start) / 2);
    } finally {
      socket.close();
    }
  });
});
