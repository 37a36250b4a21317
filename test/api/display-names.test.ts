import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/shared/model.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Display names (a tenant's name, a key's label, a workflow's and a topic's name) are refused at
 * API input when blank or holding control or bidi formatting characters; names stored before the
 * rule still load and list, and only saving one again through the API is refused.
 */

const OPERATOR_KEY = 'op_0123456789abcdef0123456789abcdef0123';
const asOperator = { auth: OPERATOR_KEY };

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ TIDINGS_OPERATOR_KEY: OPERATOR_KEY });
});
afterAll(() => server?.close());

const BLANK = 'must not be blank';
const CHARACTERS = 'must not contain control or bidi formatting characters';
const steps = [{ channel: 'in_app', template: { title: 't', body: 'b' } }];

type Field = { field: string; send: (name: string) => ReturnType<TestServer['call']> };

const FIELDS: Field[] = [
  { field: 'name', send: (name) => server.call('POST', '/v1/tenants', { name }, asOperator) },
  {
    field: 'label',
    send: (label) => server.call('POST', '/v1/tenants/default/keys', { label }, asOperator),
  },
  { field: 'name', send: (name) => server.call('PUT', '/v1/workflows/named', { name, channels: steps }) },
  { field: 'name', send: (name) => server.call('PUT', '/v1/topics/named', { name }) },
];
const ROUTES = [
  'POST /v1/tenants',
  'POST /v1/tenants/{id}/keys',
  'PUT /v1/workflows/{key}',
  'PUT /v1/topics/{key}',
];

describe.each(FIELDS.map((f, i) => [ROUTES[i]!, f] as const))('%s', (_route, { field, send }) => {
  it.each([
    ['empty', ''],
    ['spaces', '   '],
    ['other whitespace', '\u00a0\u3000 '],
    ['invisible characters', '\u200b \u2060'],
  ])(`refuses a %s ${field} as blank`, async (_what, name) => {
    const answer = await send(name);
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ path: field, message: BLANK }]);
  });

  it.each([
    ['a control character', 'ops\u0007team'],
    ['a bidi override', '\u202e evil'],
    ['a bidi mark', 'team\u200f2'],
  ])(`refuses a ${field} holding %s`, async (_what, name) => {
    const answer = await send(name);
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ path: field, message: CHARACTERS }]);
  });

  it(`takes a ${field} in any script, with spaces around and inside`, async () => {
    const answer = await send(' שלום Ops 🎉 ');
    expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
  });
});

describe('names stored before the rule', () => {
  it('still read and list, and saving one again through the API is refused', async () => {
    const { store } = server.tidings;
    const now = Date.now();
    const legacy = { name: '   ', channels: steps } as unknown as WorkflowDefinition;
    await store.putWorkflow('default', 'legacy', legacy, now);
    await store.putWorkflow('default', 'legacy', { ...legacy, name: '\u202e legacy' }, now + 1);
    await store.upsertTopic('default', 'legacy-topic', 'news\u202e', now);
    await store.ensureTenant('ten_legacy', ' ');
    await store.addApiKey({
      tenantId: 'ten_legacy',
      hash: 'h'.repeat(64),
      prefix: 'tdk_legacy',
      label: '\u200f',
    });

    const workflow = await server.call('GET', '/v1/workflows/legacy');
    expect(workflow.status).toBe(200);
    expect(workflow.body.name).toBe('\u202e legacy');
    const versions = await server.call('GET', '/v1/workflows/legacy/versions');
    expect(versions.body.items.map((v: { definition: { name: string } }) => v.definition.name)).toEqual([
      '\u202e legacy',
      '   ',
    ]);
    const workflows = await server.call('GET', '/v1/workflows');
    expect(workflows.body.items.find((w: { key: string }) => w.key === 'legacy').name).toBe('\u202e legacy');
    const topic = await server.call('GET', '/v1/topics/legacy-topic');
    expect(topic.status).toBe(200);
    expect(topic.body.name).toBe('news\u202e');
    const topics = await server.call('GET', '/v1/topics');
    expect(topics.body.items.find((t: { key: string }) => t.key === 'legacy-topic').name).toBe('news\u202e');
    const tenants = await server.call('GET', '/v1/tenants', undefined, asOperator);
    expect(tenants.body.items.find((t: { tenantId: string }) => t.tenantId === 'ten_legacy').name).toBe(' ');
    const keys = await server.call('GET', '/v1/tenants/ten_legacy/keys', undefined, asOperator);
    expect(keys.body.items.map((k: { label: string }) => k.label)).toEqual(['\u200f']);

    // Saving one again is held to the rule: a PUT keeping the stored name beside another change,
    // and a rollback to it alike.
    const resave = await server.call('PUT', '/v1/topics/legacy-topic', { name: topic.body.name });
    expect(resave.status).toBe(400);
    expect(resave.body.error.details).toEqual([{ path: 'name', message: CHARACTERS }]);
    const { name, channels } = workflow.body;
    const put = await server.call('PUT', '/v1/workflows/legacy', { name, channels, category: 'news' });
    expect(put.status).toBe(400);
    expect(put.body.error.details).toEqual([{ path: 'name', message: CHARACTERS }]);
    const rollback = await server.call('POST', '/v1/workflows/legacy/rollback', { version: 1 });
    expect(rollback.status).toBe(400);
    expect(rollback.body.error.details).toEqual([{ path: 'name', message: BLANK }]);
    expect((await server.call('GET', '/v1/workflows/legacy')).body.version).toBe(2);
    // Only its kill switch is taken as it is: the stored body with paused changed.
    const paused = await server.call('PUT', '/v1/workflows/legacy', { name, channels, paused: true });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ version: 3, paused: true, name: '\u202e legacy' });
  });
});
