import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(() => server?.close());

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
    const bad = await server.call('GET', '/v1/inbox/ws', undefined, { auth: 'not.a.token' });
    expect(bad.status).toBe(401);
  });
});
