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

  it('is paused, and unpaused, by a PUT of its own body with only paused changed; any other change is held to every rule', async () => {
    const { store } = server.tidings;
    await store.putWorkflow('default', 'legacy-kill', legacy as unknown as WorkflowDefinition, Date.now());

    const paused = await server.call('PUT', '/v1/workflows/legacy-kill', { ...legacy, paused: true });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, version: 2, name: legacy.name });

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

    // Anything else changed: every rule holds, the stored values' problems named with the new one.
    const changed = await server.call('PUT', '/v1/workflows/legacy-kill', {
      ...legacy,
      category: 'promo\u0007',
      paused: true,
    });
    expect(changed.status).toBe(400);
    const paths = changed.body.error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'category']));
    expect((await server.call('GET', '/v1/workflows/legacy-kill')).body.version).toBe(2);

    // Unpaused the same way (paused left out is paused: false).
    const unpaused = await server.call('PUT', '/v1/workflows/legacy-kill', legacy);
    expect(unpaused.status, JSON.stringify(unpaused.body)).toBe(200);
    expect(unpaused.body).toMatchObject({ version: 3 });
    expect(unpaused.body.paused ?? false).toBe(false);

    // A PUT for a workflow that does not exist, or with a paused that is no boolean, gets no pass.
    const absent = await server.call('PUT', '/v1/workflows/legacy-none', { ...legacy, paused: true });
    expect(absent.status).toBe(400);
    const oddPaused = await server.call('PUT', '/v1/workflows/legacy-kill', { ...legacy, paused: 'yes' });
    expect(oddPaused.status).toBe(400);
    expect((await server.call('GET', '/v1/workflows/legacy-kill')).body.version).toBe(3);
  });
});
