import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { keepAlive } from '../../../src/api/routes/ws-keepalive.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

// Long enough that a busy machine's late timer is not read as a missed pong.
const INTERVAL_MS = 100;

/** A real WebSocket pair on loopback: the server's end, and a client that answers pings or not. */
async function pair(options: { autoPong: boolean }): Promise<{ server: WebSocket; client: WebSocket }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(wss);
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
    autoPong: options.autoPong,
  });
  return { server: await accepted, client };
}

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const wss of servers.splice(0)) {
    for (const socket of wss.clients) socket.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
});

describe('keepAlive (the inbox WebSocket heartbeat)', () => {
  it('closes a client that does not answer its ping', async () => {
    const { server } = await pair({ autoPong: false });
    let dead = false;
    const stop = keepAlive(server, INTERVAL_MS, () => {
      dead = true;
    });
    try {
      await waitFor(() => dead, 'the silent client judged dead');
    } finally {
      stop();
    }
  });

  it('keeps a client that answers', async () => {
    const { server, client } = await pair({ autoPong: true });
    let dead = false;
    let pings = 0;
    client.on('ping', () => pings++);
    const stop = keepAlive(server, INTERVAL_MS, () => {
      dead = true;
    });
    try {
      await waitFor(() => pings >= 3, 'three pings answered');
      expect(dead).toBe(false);
    } finally {
      stop();
    }
  });

  it('does not judge a client while the server is not reading it', async () => {
    const { server, client } = await pair({ autoPong: true });
    let dead = false;
    const stop = keepAlive(server, INTERVAL_MS, () => {
      dead = true;
    });
    try {
      // As inbox-ws.ts does while a client's actions queue: its pong waits unread behind them.
      server.pause();
      // Ten intervals: pinging on, it would have been judged by the second.
      await sleep(INTERVAL_MS * 10);
      expect(dead).toBe(false);
      server.resume();
      let pongs = 0;
      server.on('pong', () => pongs++);
      await waitFor(() => pongs >= 2, 'pings answered once read again');
      expect(dead).toBe(false);
      expect(client.readyState).toBe(WebSocket.OPEN);
    } finally {
      stop();
    }
  });
});
