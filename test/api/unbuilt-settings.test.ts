import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Contract settings that are not built are refused (422 naming them), never stored and ignored. */

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const step = { channel: 'in_app', template: { title: 'Hi', body: 'there' } };

describe('workflow settings not built yet', () => {
  it.each([
    ['channels[0].locales', { channels: [{ ...step, locales: { es: { title: 'Hola' } } }] }],
    ['channels[0].variants', { channels: [{ ...step, variants: [{ name: 'a', weight: 1, template: {} }] }] }],
    ['channels[0].layout', { channels: [{ ...step, layout: 'brand' }] }],
    ['messages', { messages: { en: { hi: 'Hi' } }, channels: [step] }],
    ['defaultLocale', { defaultLocale: 'en', channels: [step] }],
  ])('%s is refused with 422 and nothing is stored', async (path, body) => {
    const answer = await server.call('PUT', '/v1/workflows/unbuilt', body);
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe('unprocessable');
    expect(answer.body.error.details).toEqual([
      { path, message: expect.stringContaining('not supported yet') },
    ]);
    expect((await server.call('GET', '/v1/workflows/unbuilt')).status).toBe(404);
  });

  it('a field the contract does not name stays a 400', async () => {
    const answer = await server.call('PUT', '/v1/workflows/unbuilt', { channels: [step], colour: 'red' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details[0].path).toBe('colour');
  });
});
