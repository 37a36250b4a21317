import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// Issue 12, finding 6a: a send's partition key was `subscriberId:channel:lane`, global to the
// queue, so tenant B's `user_1` waited while tenant A's `user_1` had a send in flight.

const OPERATOR_KEY = 'op_partition_test_0123456789abcdef0123';
const SECRET = `whsec_${Buffer.from('partition-test-signing-key').toString('base64')}`;
/** Longer than the test waits for B: A's send is still in flight when B's must be done. */
const A_HANGS_MS = 8_000;

let server: TestServer;
let hanging: WebhookReceiver;
let prompt: WebhookReceiver;

beforeAll(async () => {
  [server, hanging, prompt] = await Promise.all([
    startTestServer({ TIDINGS_OPERATOR_KEY: OPERATOR_KEY, TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startWebhookReceiver({ defaultResponse: { status: 200, delayMs: A_HANGS_MS } }),
    startWebhookReceiver(),
  ]);
});

afterAll(async () => {
  await Promise.all([hanging?.close(), prompt?.close()]);
  await server?.close();
});

/** A new tenant whose webhook integration points at `receiver`, with a workflow `w` sending to it. */
async function tenantWithWebhook(receiver: WebhookReceiver): Promise<string> {
  const created = await server.call('POST', '/v1/tenants', { name: 'tenant' }, { auth: OPERATOR_KEY });
  expect(created.status).toBe(201);
  const auth = { auth: created.body.apiKey as string };
  const hook = await server.call(
    'PUT',
    '/v1/integrations/hook',
    {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: receiver.url },
      credentials: { secret: SECRET },
    },
    auth,
  );
  expect(hook.status, JSON.stringify(hook.body)).toBe(200);
  const workflow = await server.call(
    'PUT',
    '/v1/workflows/w',
    { channels: [{ channel: 'webhook', template: { text: 'hello {{ data.n }}' } }] },
    auth,
  );
  expect(workflow.status).toBe(200);
  return auth.auth;
}

describe('send partitions are per tenant', () => {
  it("one tenant's send in flight does not hold back another tenant's subscriber of the same id", async () => {
    const a = await tenantWithWebhook(hanging);
    const b = await tenantWithWebhook(prompt);

    const first = await server.call(
      'POST',
      '/v1/events',
      { workflow: 'w', to: ['user_1'], data: { n: 1 } },
      { auth: a },
    );
    expect(first.status).toBe(202);
    // A's send has reached its receiver, which holds the answer: its job stays leased.
    await hanging.waitFor(1, 5_000);

    const second = await server.call(
      'POST',
      '/v1/events',
      { workflow: 'w', to: ['user_1'], data: { n: 2 } },
      { auth: b },
    );
    expect(second.status).toBe(202);
    const [received] = await prompt.waitFor(1, A_HANGS_MS / 2);
    expect(received!.json()).toMatchObject({ subscriberId: 'user_1', content: { text: 'hello 2' } });
    const sent = await waitFor(async () => {
      const event = await server.call('GET', `/v1/events/${second.body.eventId}`, undefined, { auth: b });
      return event.body.messages?.[0]?.status === 'sent' ? event.body.messages[0] : null;
    }, "B's message sent");
    expect(sent.subscriberId).toBe('user_1');
    // A's is still waiting on its provider: B did not wait for it.
    const stillA = await server.call('GET', `/v1/events/${first.body.eventId}`, undefined, { auth: a });
    expect(stillA.body.messages[0].status).toBe('sending');
  });
});
