import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

const cursor = (text: string) => Buffer.from(text).toString('base64url');

describe('Hostile input: inbox cursors', () => {
  it.each([
    ['a fractional time', '1.5\u0000msg_x'],
    ['a time past 2^53', '9007199254740993\u0000msg_x'],
    ['a time in exponent form', '1e400\u0000msg_x'],
    ['one part', 'msg_x'],
  ])('a cursor holding %s is a 400 naming cursor, on every store', async (_, text) => {
    const token = (await server.call('POST', '/v1/subscribers/cursor_1/token')).body.token;
    const answer = await server.call('GET', `/v1/inbox?cursor=${cursor(text)}`, undefined, { auth: token });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([
      { path: 'cursor', message: 'is not a cursor this API issued' },
    ]);
  });
});
