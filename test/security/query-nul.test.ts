import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A NUL in a query value is a 400 naming that field on every route and every store. Found by the
 * hostile-input sweep: `GET /v1/inbox?category=%00` reached PostgreSQL, which refuses a NUL in any
 * text parameter, and answered 500.
 */
describe('Hostile input: a NUL in a query value', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    token = (await server.call('POST', '/v1/subscribers/nul_query/token')).body.token;
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(['%00', 'social%00', '%00social'])(
    'GET /v1/inbox?category=%s is a 400 naming category',
    async (value) => {
      const answer = await server.call('GET', `/v1/inbox?category=${value}`, undefined, { auth: token });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error.code).toBe('validation_failed');
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual(['category']);
    },
  );

  it.each([
    ['GET', '/v1/messages?subscriberId=a%00b', 'subscriberId'],
    ['GET', '/v1/messages?eventId=%00', 'eventId'],
    ['GET', '/v1/subscribers?cursor=%00', 'cursor'],
    ['DELETE', '/v1/events?cancellationKey=a%00', 'cancellationKey'],
  ])('%s %s is a 400 naming the field', async (method, route, field) => {
    const answer = await server.call(method, route);
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual([field]);
  });

  it('a query without a NUL is untouched by the check', async () => {
    const answer = await server.call('GET', '/v1/inbox?category=social', undefined, { auth: token });
    expect(answer.status).toBe(200);
    expect(answer.body.items).toEqual([]);
  });
});
