import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: stream events are read field by field and checked by assertions
type Json = any;

/**
 * An action sent over `GET /v1/inbox/ws` names its item by the id rule of the HTTP routes'
 * `{itemId}`: a control or bidi-override character is a validation error naming `itemId`. Found by
 * the hostile-input sweep: `{"type": "read", "itemId": "\u0000"}` reached the store, which on
 * PostgreSQL refuses a NUL in any text parameter, and the client was told "unavailable: the action
 * failed; retry" — an invitation to send it again, for ever.
 */
describe('Hostile input: WebSocket actions naming an item id no route takes', () => {
  let server: TestServer;
  let socket: WebSocket;
  const events: Json[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    const token = (await server.call('POST', '/v1/subscribers/ws-ids/token')).body.token;
    socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/inbox/ws?token=${token}`);
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data) => {
        const event = JSON.parse(String(data));
        events.push(event);
        if (event.type === 'ready') resolve();
      });
      socket.once('error', reject);
    });
  });

  afterAll(async () => {
    socket?.close();
    await server?.close();
  });

  /** The answer to one frame: the next event after those already seen. */
  async function answer(frame: unknown): Promise<Json> {
    const seen = events.length;
    socket.send(JSON.stringify(frame));
    await new Promise<void>((resolve) => {
      const check = () =>
        events.length > seen ? resolve() : socket.once('message', () => setImmediate(check));
      check();
    });
    return events[seen];
  }

  it.each([
    ['read', '\u0000'],
    ['archive', 'msg_\u0000x'],
    ['seen', 'a\u001fb'],
    ['read', 'a\u202eb'],
  ])('%s of %j: validation_failed naming itemId', async (type, itemId) => {
    const event = await answer({ type, itemId });
    expect(event.type).toBe('error');
    expect(event.error.code).toBe('validation_failed');
    expect(event.error.details.map((d: { path: string }) => d.path)).toEqual(['itemId']);
  });

  it('an id without such characters is still looked up (not_found), and the socket stays open', async () => {
    const event = await answer({ type: 'read', itemId: 'msg_unknown' });
    expect(event.error.code).toBe('not_found');
    expect(socket.readyState).toBe(WebSocket.OPEN);
  });
});
