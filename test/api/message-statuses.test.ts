import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// API.md "Messages": the statuses a message can have, a closed list. An escalation is not one of
// them: the message keeps its status and gains `"escalated": true` and a timeline entry.
const API_MD_STATUSES = [
  'queued',
  'deferred',
  'suppressed',
  'rate_limited',
  'sending',
  'sent',
  'delivered',
  'read',
  'clicked',
  'failed',
  'bounced',
  'dead',
  'cancelled',
];

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(() => server?.close());

describe('message statuses are the ones API.md lists', () => {
  it('the status filter takes each of them and refuses "escalated", naming the field', async () => {
    for (const status of API_MD_STATUSES) {
      const page = await server.call('GET', `/v1/messages?status=${status}`);
      expect(page.status, status).toBe(200);
    }
    const escalated = await server.call('GET', '/v1/messages?status=escalated');
    expect(escalated.status).toBe(400);
    expect(escalated.body.error.details).toEqual([expect.objectContaining({ path: 'status' })]);
  });

  it('/openapi.json documents exactly them for a message, its filter and a receipt', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the document is walked field by field
    type Json = any;
    const paths: Json = (await server.call('GET', '/openapi.json', undefined, { auth: null })).body.paths;
    const ok = (op: Json) => op.responses['200'].content['application/json'].schema;
    const enums = {
      message: ok(paths['/v1/messages/{messageId}'].get).properties.status.enum,
      filter: paths['/v1/messages'].get.parameters.find((p: { name: string }) => p.name === 'status').schema
        .enum,
      receipt: ok(paths['/v1/messages/{messageId}/receipt'].post).properties.status.enum,
    };
    for (const [where, values] of Object.entries(enums)) expect(values, where).toEqual(API_MD_STATUSES);
  });
});
