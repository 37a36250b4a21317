import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A workflow PUT whose key breaks the id rules is a 400 naming `key`, like every other route's,
 * whatever its body. Found by the hostile-input sweep: the PUT route takes its schema's answer in
 * the handler (so that a pause-only PUT of a workflow stored before a newer rule still works), and
 * that path read the stored workflow by the refused key first; PostgreSQL refuses a NUL in text, so
 * `PUT /v1/workflows/%00` was a 500 there.
 */
describe('PUT /v1/workflows/{key} with a key the rules refuse', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ['a NUL', '%00'],
    ['a NUL inside', 'a%00b'],
    ['a bidi override', 'a%E2%80%AEb'],
    ['a line break', 'a%0Ab'],
    ['101 characters', 'k'.repeat(101)],
  ])('%s: 400 naming key, for a bad body, a pause-only body and a good one', async (_, key) => {
    const good = { channels: [{ channel: 'in_app', template: { title: 't', body: 'b' } }] };
    for (const body of [{}, { paused: true }, good]) {
      const answer = await server.call('PUT', `/v1/workflows/${key}`, body);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error.code).toBe('validation_failed');
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual(['key']);
    }
    expect((await server.call('GET', '/v1/workflows')).body.items).toEqual([]);
  });
});
