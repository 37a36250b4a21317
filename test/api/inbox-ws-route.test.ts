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
