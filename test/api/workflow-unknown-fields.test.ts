import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** A workflow field the contract does not name is refused (400 naming it), never stored and ignored. */

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const step = { channel: 'in_app', template: { title: 'Hi', body: 'there' } };

describe('workflow settings', () => {
  it('a field the contract does not name stays a 400', async () => {
    const answer = await server.call('PUT', '/v1/workflows/unbuilt', { channels: [step], colour: 'red' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details[0].path).toBe('colour');
  });
});
