import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/shared/model.ts';
import { closedPort } from '../fakes/outbound.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' });
});

afterAll(async () => {
  await server?.close();
});

describe('Finding 4 (kill switch): sends queued before a pause', () => {
  it('are cancelled with workflow_paused instead of going out once the workflow is paused', async () => {
    const integration = await server.call('PUT', '/v1/integrations/mail', {
      channel: 'email',
      provider: 'smtp',
      config: { host: '127.0.0.1', port: await closedPort(), from: 'Acme <noreply@acme.example>' },
    });
    expect(integration.status).toBe(200);
    const workflow = { channels: [{ channel: 'email', template: { subject: 'Hi', text: 'Hello' } }] };
    expect((await server.call('PUT', '/v1/workflows/retrying', workflow)).status).toBe(200);
    const sent = await server.call('POST', '/v1/events', {
      workflow: 'retrying',
      to: [{ subscriberId: 'held_1', email: 'held@example.com' }],
    });
    expect(sent.status).toBe(202);

    // The first attempt failed and a retry is waiting: the message is queued again.
    const messageId = await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${sent.body.eventId}`)).body;
      const message = view.messages?.[0];
      return message?.timeline.some((t: { detail?: string }) => t.detail?.includes('retry in'))
        ? (message.messageId as string)
        : null;
    }, 'a send waiting for its retry');

    expect((await server.call('PUT', '/v1/workflows/retrying', { ...workflow, paused: true })).status).toBe(
      200,
    );
    const held = await waitFor(async () => {
      const message = (await server.call('GET', `/v1/messages/${messageId}`)).body;
      return message.status === 'cancelled' ? message : null;
    }, 'the queued send to be cancelled');
    expect(held.reason).toBe('workflow_paused');
    expect(held.timeline.at(-1)).toMatchObject({
      status: 'cancelled',
      detail: 'workflow retrying is paused',
    });
  });
});

describe('the kill switch of a workflow stored before the input rules it breaks', () => {
  // Each value is one a PUT now refuses: a bidi override in the name, a space ending the category,
  // a locale key of 65 characters and a template field past the markup bound (5,000 tags).
  const LONG_TAG = `en-x-${'abcdefgh-'.repeat(6)}abcdef`;
  const legacy = {
    name: '\u202e legacy',
    category: 'transactional ',
    channels: [
      {
        channel: 'in_app',
        template: { title: 'Hi', body: '{{a}}'.repeat(5_001) },
        locales: { [LONG_TAG]: { title: 'x' } },
      },
    ],
  };
  const CATEGORY_RULE =
    'must be 1–64 characters without control characters or bidi overrides, not starting or ending with whitespace';

  it('is paused by a PUT of the same body with paused: true, and what a PUT changes is still held to the rules', async () => {
    const { store } = server.tidings;
    await store.putWorkflow('default', 'legacy-kill', legacy as unknown as WorkflowDefinition, Date.now());

    const paused = await server.call('PUT', '/v1/workflows/legacy-kill', { ...legacy, paused: true });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, version: 2 });

    const sent = await server.call('POST', '/v1/events', {
      workflow: 'legacy-kill',
      to: [{ subscriberId: 'legacy_kill_1' }],
    });
    expect(sent.status).toBe(202);
    const message = await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${sent.body.eventId}`)).body;
      return view.messages?.[0];
    }, 'the event to make its message');
    expect(message).toMatchObject({ status: 'cancelled', reason: 'workflow_paused' });

    // A changed value is held to the rule (and only it: the unchanged ones stay forgiven).
    const changed = await server.call('PUT', '/v1/workflows/legacy-kill', {
      ...legacy,
      category: 'promo\u0007',
      paused: true,
    });
    expect(changed.status).toBe(400);
    expect(changed.body.error.details).toEqual([{ path: 'category', message: CATEGORY_RULE }]);
    const renamed = await server.call('PUT', '/v1/workflows/legacy-kill', {
      ...legacy,
      name: '\u202e renamed',
      paused: true,
    });
    expect(renamed.status).toBe(400);
    expect(renamed.body.error.details).toEqual([
      { path: 'name', message: 'must not contain control or bidi formatting characters' },
    ]);
    // A field changed next to the forgiven ones is parsed and held to its rules.
    const broken = structuredClone(legacy);
    broken.channels[0]!.template.title = '{{ x';
    const unparsable = await server.call('PUT', '/v1/workflows/legacy-kill', { ...broken, paused: true });
    expect(unparsable.status).toBe(400);
    expect(unparsable.body.error.details).toEqual([
      { path: 'channels[0].template.title', message: expect.any(String) },
    ]);
    expect((await server.call('GET', '/v1/workflows/legacy-kill')).body.version).toBe(2);
  });
});
