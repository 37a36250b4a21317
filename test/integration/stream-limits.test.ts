import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { openSse, type SseClient } from '../helpers/sse.ts';
import { waitFor } from '../helpers/wait.ts';

// A tenant cannot hold every inbox stream of a server (and with them its file descriptors):
// TIDINGS_MAX_STREAMS=8 here, so past 6 open streams a tenant holding 2 or more is refused (429)
// while the others still open theirs, and at 8 everyone is (503).

const OPERATOR_KEY = 'op_stream_limits_test_0123456789abcdef';
let server: TestServer;
const open: SseClient[] = [];

beforeAll(async () => {
  server = await startTestServer({ TIDINGS_OPERATOR_KEY: OPERATOR_KEY, TIDINGS_MAX_STREAMS: '8' });
});

afterAll(async () => {
  for (const stream of open) stream.close();
  await server?.close();
});

async function newTenantKey(): Promise<string> {
  const created = await server.call('POST', '/v1/tenants', { name: 'streams' }, { auth: OPERATOR_KEY });
  expect(created.status).toBe(201);
  return created.body.apiKey as string;
}

async function token(subscriberId: string, auth?: string): Promise<string> {
  const minted = await server.call('POST', `/v1/subscribers/${subscriberId}/token`, {}, auth ? { auth } : {});
  expect(minted.status).toBe(200);
  return minted.body.token as string;
}

async function stream(subscriberId: string, auth?: string): Promise<SseClient> {
  const client = await openSse(
    `${server.url}/v1/inbox/stream?token=${encodeURIComponent(await token(subscriberId, auth))}`,
  );
  open.push(client);
  return client;
}

describe('inbox streams are shared between tenants', () => {
  it("refuses a tenant past its share while others still open theirs, then everyone once full; a closed stream's room is reused", async () => {
    const other = await newTenantKey();
    for (let n = 0; n < 6; n++) {
      const client = await stream(`flood_${n}`);
      expect(client.status).toBe(200);
      await client.next('ready');
    }
    const refused = await stream('flood_6');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('30');
    // Over a WebSocket too: refused before the upgrade, with the same answer.
    const ws = new WebSocket(
      `${server.url.replace('http', 'ws')}/v1/inbox/ws?token=${await token('flood_7')}`,
    );
    const status = await new Promise<number>((resolve) =>
      ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)),
    );
    expect(status).toBe(429);
    const theirs: SseClient[] = [];
    for (const n of [0, 1]) {
      theirs.push(await stream(`their_${n}`, other));
      expect(theirs[n]!.status).toBe(200);
      await theirs[n]!.next('ready');
    }
    const full = await stream('their_2', other);
    expect(full.status).toBe(503);
    // Health checks and API calls still answer.
    expect((await server.call('GET', '/healthz')).status).toBe(200);

    // A closed stream's room is free again once the server has seen it close: the other tenant,
    // back under its share, opens one more.
    theirs[0]!.close();
    await waitFor(async () => {
      const client = await stream('their_2', other);
      if (client.status !== 200) client.close();
      return client.status === 200;
    }, 'a stream opened in the room a closed one left');
  });
});

describe('inbox streams opened all at once', () => {
  it('never lets a tenant past its share, however many of its streams arrive together', async () => {
    const burst = await startTestServer({ TIDINGS_MAX_STREAMS: '8' });
    const clients: SseClient[] = [];
    try {
      const tokens = await Promise.all(
        Array.from({ length: 24 }, async (_, n) => {
          const minted = await burst.call('POST', `/v1/subscribers/burst_${n}/token`, {});
          return minted.body.token as string;
        }),
      );
      clients.push(
        ...(await Promise.all(
          tokens.map((t) => openSse(`${burst.url}/v1/inbox/stream?token=${encodeURIComponent(t)}`)),
        )),
      );
      // One tenant: three quarters of the 8, each place taken before the request waits for anything.
      const statuses = clients.map((client) => client.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(6);
      expect(statuses.filter((status) => status !== 200).every((status) => status === 429)).toBe(true);
    } finally {
      for (const client of clients) client.close();
      await burst.close();
    }
  });
});
