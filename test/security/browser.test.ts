import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { deriveKeys } from '../../src/security/secrets.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'browser-test-secret-0123456789abcdef0123456789';
const ORIGIN = 'https://app.example.test';

/** An SSE response read to its end in the background: its text so far, and whether it ended. */
interface RawStream {
  status: number;
  headers: Headers;
  text(): string;
  hasEnded(): boolean;
  close(): void;
}

const streams: RawStream[] = [];

async function openStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const abort = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  let text = '';
  let ended = false;
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
      }
    } catch {
      // aborted by the test
    }
    ended = true;
  })();
  const stream = {
    status: response.status,
    headers: response.headers,
    text: () => text,
    hasEnded: () => ended,
    close: () => abort.abort(),
  };
  streams.push(stream);
  return stream;
}

async function openReady(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const stream = await openStream(url, headers);
  expect(stream.status).toBe(200);
  await waitFor(() => stream.text().includes('event: ready'), 'the ready event');
  return stream;
}

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ TIDINGS_SECRET: SECRET });
  const put = await server.call('PUT', '/v1/workflows/ping', {
    channels: [{ channel: 'in_app', template: { title: 'Ping {{ data.n }}', body: 'b' } }],
  });
  expect(put.status).toBe(200);
});

afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
});

afterAll(async () => {
  await server?.close();
});

async function mint(subscriberId: string, body?: unknown) {
  return server.call('POST', `/v1/subscribers/${subscriberId}/token`, body);
}

const streamUrl = (token: string) => `${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`;

describe('9. browser-facing answers', () => {
  it('sends CORS headers on inbox refusals (401, 404) as on successes, and none on the server API', async () => {
    const origin = { origin: ORIGIN };
    const noToken = await server.call('GET', '/v1/inbox', undefined, { auth: null, headers: origin });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(noToken.headers.get('vary')).toMatch(/origin/i);

    const badToken = await server.call('GET', '/v1/inbox/unread-count', undefined, {
      auth: 'a.b.c',
      headers: origin,
    });
    expect(badToken.status).toBe(401);
    expect(badToken.headers.get('access-control-allow-origin')).toBe(ORIGIN);

    const stream = await fetch(`${server.url}/v1/inbox/stream?token=a.b.c`, { headers: origin });
    expect(stream.status).toBe(401);
    expect(stream.headers.get('access-control-allow-origin')).toBe(ORIGIN);

    const token = (await mint('cors_ada')).body.token;
    const missing = await server.call('POST', '/v1/inbox/msg_nope/read', undefined, {
      auth: token,
      headers: origin,
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const ok = await server.call('GET', '/v1/inbox', undefined, { auth: token, headers: origin });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ORIGIN);

    // The other browser-facing paths get them whatever they answer (even Fastify's own early
    // refusal of an undecodable URL); the server API never does.
    for (const route of [
      '/inbox.js',
      '/v1/unsubscribe/tok',
      '/v1/preferences-page?token=x',
      '/v1/inbox/%E0%A4%A',
    ]) {
      const answer = await fetch(`${server.url}${route}`, { headers: origin });
      expect(answer.headers.get('access-control-allow-origin'), route).toBe(ORIGIN);
    }
    for (const auth of [server.key, null]) {
      const events = await server.call('GET', '/v1/workflows', undefined, { auth, headers: origin });
      expect(events.headers.get('access-control-allow-origin')).toBeNull();
    }
    const preflight = await fetch(`${server.url}/v1/inbox/read-all`, {
      method: 'OPTIONS',
      headers: {
        ...origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
  });

  it("takes a receipt from a web app with the subscriber's token: preflight and answer carry CORS", async () => {
    const origin = { origin: ORIGIN };
    const route = '/v1/messages/msg_nope/receipt';
    const preflight = await fetch(`${server.url}${route}`, {
      method: 'OPTIONS',
      headers: {
        ...origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    const token = (await mint('cors_receipt')).body.token;
    const answer = await server.call('POST', route, { status: 'read' }, { auth: token, headers: origin });
    expect(answer.status).toBe(404);
    expect(answer.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    // A token the server refuses (expired, forged, or of a subscriber since erased) is still a web
    // app's: it must be able to read the 401/404 to know it needs a new one.
    const expired = await new SignJWT({ tid: 'default' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('cors_receipt')
      .setAudience('tidings:inbox')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(deriveKeys(SECRET).tokenSigning);
    const stale = await server.call('POST', route, { status: 'read' }, { auth: expired, headers: origin });
    expect(stale.status).toBe(401);
    expect(stale.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const erasedToken = (await mint('cors_receipt_gone')).body.token;
    expect((await server.call('DELETE', '/v1/subscribers/cors_receipt_gone')).status).toBe(202);
    const gone = await server.call('POST', route, { status: 'read' }, { auth: erasedToken, headers: origin });
    expect(gone.status).toBe(404);
    expect(gone.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    // With a server key it is server API, which sends none, as do its neighbours.
    const fromServer = await server.call('POST', route, { status: 'read' }, { headers: origin });
    expect(fromServer.status).toBe(404);
    expect(fromServer.headers.get('access-control-allow-origin')).toBeNull();
    const message = await server.call('GET', '/v1/messages/msg_nope', undefined, { headers: origin });
    expect(message.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers only the origins TIDINGS_CORS_ORIGINS lists', async () => {
    const listed = await startTestServer({
      TIDINGS_SECRET: SECRET,
      TIDINGS_CORS_ORIGINS: `${ORIGIN}, https://b.test`,
    });
    try {
      const from = async (origin: string) =>
        (await fetch(`${listed.url}/v1/inbox`, { headers: { origin } })).headers.get(
          'access-control-allow-origin',
        );
      expect(await from(ORIGIN)).toBe(ORIGIN);
      expect(await from('https://b.test')).toBe('https://b.test');
      expect(await from('https://evil.test')).toBeNull();

      // Browsers apply no CORS to WebSockets: the upgrade itself is refused for another origin.
      const token = (await listed.call('POST', '/v1/subscribers/ws_origin/token')).body.token;
      const upgrade = (origin?: string) =>
        new Promise<number>((resolve) => {
          const socket = new WebSocket(`${listed.url.replace('http', 'ws')}/v1/inbox/ws?token=${token}`, {
            headers: origin ? { origin } : {},
          });
          socket.on('unexpected-response', (_request, response) => {
            resolve(response.statusCode ?? 0);
            socket.terminate();
          });
          socket.on('open', () => {
            resolve(101);
            socket.close();
          });
          socket.on('error', () => undefined);
        });
      expect(await upgrade('https://evil.test')).toBe(403);
      expect(await upgrade(ORIGIN)).toBe(101);
      expect(await upgrade()).toBe(101);
    } finally {
      await listed.close();
    }
  });

  it('mints tokens for a duration string from 1 s to 7 d, uncached, and refuses other lifetimes naming the field', async () => {
    const before = Date.now();
    const hour = await mint('ttl_ada', { expiresIn: '1h' });
    expect(hour.status).toBe(200);
    expect(Object.keys(hour.body).sort()).toEqual(['expiresAt', 'token']);
    expect(hour.headers.get('cache-control')).toBe('no-store');
    // At least the hour asked for, at most a second more (exp counts from the next whole second).
    expect(Date.parse(hour.body.expiresAt) - before).toBeGreaterThanOrEqual(3_600_000);
    expect(Date.parse(hour.body.expiresAt) - Date.now()).toBeLessThanOrEqual(3_601_000);

    const week = await mint('ttl_ada', { expiresIn: '7d' });
    expect(Date.parse(week.body.expiresAt) - before).toBeGreaterThan(7 * 86_400_000 - 2_000);
    expect((await mint('ttl_ada', { expiresIn: '1s' })).status).toBe(200);
    expect((await mint('ttl_ada', { expiresIn: 90 })).status).toBe(200);
    const byDefault = await mint('ttl_ada');
    expect(Date.parse(byDefault.body.expiresAt) - before).toBeGreaterThan(86_400_000 - 2_000);

    for (const expiresIn of ['8d', '0s', '604801s', 'forever', '1.5h', 0, 604_801]) {
      const refused = await mint('ttl_ada', { expiresIn });
      expect(refused.status, JSON.stringify(expiresIn)).toBe(400);
      expect(refused.body.error.code).toBe('validation_failed');
      expect(refused.body.error.details[0].path).toContain('expiresIn');
    }
  });

  it('refuses a subscriber token without an expiry, even one signed with the real key', async () => {
    // The subscriber exists (a token of an unknown or erased subscriber answers 404 anyway).
    expect((await server.call('PUT', '/v1/subscribers/noexp_ada', {})).status).toBeLessThan(300);
    const signing = deriveKeys(SECRET).tokenSigning;
    const claims = new SignJWT({ tid: 'default' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('noexp_ada')
      .setAudience('tidings:inbox')
      .setIssuedAt();
    const forever = await claims.sign(signing);
    const refused = await server.call('GET', '/v1/inbox', undefined, { auth: forever });
    expect(refused.status).toBe(401);
    expect((await fetch(streamUrl(forever))).status).toBe(401);

    // The same claims with an expiry are accepted: it is the missing `exp` that is refused.
    const expiring = await claims.setExpirationTime('1h').sign(signing);
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: expiring })).status).toBe(200);
  });

  it('closes an open stream when its token expires, and refuses the token afterwards', async () => {
    const minted = await mint('exp_ada', { expiresIn: '2s' });
    const expiresAt = Date.parse(minted.body.expiresAt);
    const stream = await openReady(streamUrl(minted.body.token));
    await waitFor(() => stream.hasEnded(), 'the stream to end at the token expiry', 8_000);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 50);

    // Nothing reaches it after the end, and reconnecting with the expired token is refused.
    const event = await server.call('POST', '/v1/events', {
      workflow: 'ping',
      to: ['exp_ada'],
      data: { n: 1 },
    });
    expect(event.status).toBe(202);
    const again = await fetch(streamUrl(minted.body.token), { headers: { origin: ORIGIN } });
    expect(again.status).toBe(401);
    expect(again.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(stream.text()).not.toContain('item.created');
  });

  it('keeps at most 20 open streams per subscriber, across tokens: opening another closes the oldest', async () => {
    const first = (await mint('cap_ada')).body.token;
    const second = (await mint('cap_ada')).body.token;
    const open: RawStream[] = [];
    for (let i = 0; i < 20; i++) open.push(await openReady(streamUrl(first)));
    const other = await openReady(streamUrl((await mint('cap_bob')).body.token));
    expect(open.some((s) => s.hasEnded())).toBe(false);

    const newest = await openReady(`${server.url}/v1/inbox/stream`, { authorization: `Bearer ${second}` });
    await waitFor(() => open[0]!.hasEnded(), 'the oldest stream to close');
    await openReady(streamUrl(second));
    await waitFor(() => open[1]!.hasEnded(), 'the next oldest stream to close');

    // The others stay open and live: an item reaches the newest stream and the other subscriber's is untouched.
    expect(open.slice(2).some((s) => s.hasEnded())).toBe(false);
    expect(other.hasEnded()).toBe(false);
    await server.call('POST', '/v1/events', { workflow: 'ping', to: ['cap_ada'], data: { n: 2 } });
    await waitFor(() => newest.text().includes('item.created'), 'the item on the newest stream');
    await waitFor(() => open[19]!.text().includes('item.created'), 'the item on a kept stream');
  });
});
