import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { openSse } from '../helpers/sse.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const put = await server.call('PUT', '/v1/workflows/ping', {
    channels: [{ channel: 'in_app', template: { title: 'Ping {{ data.n }}', body: 'b' } }],
  });
  expect(put.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

async function tokenFor(subscriberId: string): Promise<string> {
  return (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
}

describe('GET /v1/inbox/stream (Server-Sent Events)', () => {
  it('pushes new items and read state to every open device of the subscriber, and only to them', async () => {
    const token = await tokenFor('sse_ada');
    const phone = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    const laptop = await openSse(`${server.url}/v1/inbox/stream`, { authorization: `Bearer ${token}` });
    const other = await openSse(
      `${server.url}/v1/inbox/stream?token=${encodeURIComponent(await tokenFor('sse_bob'))}`,
    );
    try {
      expect(phone.status).toBe(200);
      expect(phone.headers.get('content-type')).toContain('text/event-stream');
      expect((await phone.next('ready')).data).toEqual({ type: 'ready', unreadCount: 0 });
      await laptop.next('ready');
      await other.next('ready');

      const sent = await server.call('POST', '/v1/events', {
        workflow: 'ping',
        to: ['sse_ada'],
        data: { n: 1 },
      });
      expect(sent.status).toBe(202);
      const created = await phone.next('item.created');
      expect(created.data).toMatchObject({ item: { title: 'Ping 1', readAt: null }, unreadCount: 1 });
      // The SSE id is the event's own (its place in the subscriber's change log), also in the JSON.
      expect(created.id).toMatch(/^\d+$/);
      expect(created.data).toMatchObject({ type: 'item.created', id: created.id });
      expect((await laptop.next('item.created')).data.item.id).toBe(created.data.item.id);

      // Read on the laptop: the phone hears of it.
      const read = await server.call('POST', `/v1/inbox/${created.data.item.id}/read`, undefined, {
        auth: token,
      });
      expect(read.status).toBe(200);
      const updated = await phone.next('item.updated');
      expect(updated.data).toMatchObject({ item: { id: created.data.item.id }, unreadCount: 0 });
      expect(updated.data.item.readAt).not.toBeNull();

      await server.call('POST', '/v1/events', { workflow: 'ping', to: ['sse_ada'], data: { n: 2 } });
      await phone.next('item.created');
      await server.call('POST', '/v1/inbox/read-all', undefined, { auth: token });
      expect((await phone.next('inbox.read-all')).data).toMatchObject({
        type: 'inbox.read-all',
        unreadCount: 0,
      });

      // Bob's stream saw none of Ada's inbox.
      expect(other.seen.map((e) => e.event)).toEqual(['ready']);
    } finally {
      phone.close();
      laptop.close();
      other.close();
    }
  });

  it('refuses a server key, a missing token and a forged one with 401', async () => {
    expect((await fetch(`${server.url}/v1/inbox/stream`)).status).toBe(401);
    expect((await fetch(`${server.url}/v1/inbox/stream?token=a.b.c`)).status).toBe(401);
    const withKey = await fetch(`${server.url}/v1/inbox/stream`, {
      headers: { authorization: `Bearer ${server.key}` },
    });
    expect(withKey.status).toBe(401);
  });

  it('ends open streams when the server stops, so shutdown never waits on them', async () => {
    const own = await startTestServer();
    const token = (await own.call('POST', '/v1/subscribers/sse_stop/token')).body.token;
    const stream = await openSse(`${own.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    await stream.next('ready');
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(8_000);
    stream.close();
  });

  it('lets a browser on another origin read the stream (CORS)', async () => {
    const token = await tokenFor('sse_cors');
    const stream = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`, {
      origin: 'https://app.example.test',
    });
    try {
      expect(stream.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
      await stream.next('ready');
    } finally {
      stream.close();
    }
  });
});
