import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// API.md writes list routes with their parameters left empty (`?cursor=&limit=`): a client that
// fills that template for its first page sends them empty, which means "not given".

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  expect((await server.call('PUT', '/v1/subscribers/ada', { email: 'ada@example.com' })).status).toBe(200);
  expect((await server.call('PUT', '/v1/topics/news', { name: 'News' })).status).toBeLessThan(300);
});

afterAll(() => server?.close());

describe('a query parameter sent empty is one not sent', () => {
  it('answers the first page of every list written that way in API.md', async () => {
    for (const route of [
      '/v1/messages?subscriberId=&eventId=&channel=&status=&cursor=',
      '/v1/dead-letters?cursor=&limit=',
      '/v1/subscribers?cursor=&limit=',
      '/v1/topics/news/subscribers?cursor=',
    ]) {
      const page = await server.call('GET', route);
      expect(page.status, `${route}: ${JSON.stringify(page.body)}`).toBe(200);
      expect(page.body).toMatchObject({ items: expect.any(Array), nextCursor: null });
    }
    const token = (await server.call('POST', '/v1/subscribers/ada/token')).body.token as string;
    const inbox = await server.call('GET', '/v1/inbox?cursor=&limit=', undefined, { auth: token });
    expect(inbox.status, JSON.stringify(inbox.body)).toBe(200);
  });

  it('still refuses a value that is there and wrong, naming it', async () => {
    const bad = await server.call('GET', '/v1/messages?cursor=x');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'cursor' })]);
  });
});
