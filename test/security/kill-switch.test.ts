import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
