import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../src/shared/model.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import {
  type ScriptedResponse,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../fakes/webhook-receiver.ts';
import { freePort } from '../helpers/child.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// Chaos at the provider (issue 12, item 7): one that refuses connections, one that hangs past
// the client's timeout, one that answers 500 for a while. Each time every message must end
// `sent` — none lost, none failed — and the receiver sees each message under its own webhook-id
// (the message id), a retried one again under the same id.

const MESSAGES = 10;
const OPERATOR_KEY = 'op_chaos_providers_0123456789abcdef0123';
const SECRET = `whsec_${Buffer.from('chaos-providers-signing-key').toString('base64')}`;

let server: TestServer;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  server = await startTestServer({
    TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
    TIDINGS_OPERATOR_KEY: OPERATOR_KEY,
  });
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});
afterAll(async () => {
  await server?.close();
});

async function track(receiver: Promise<WebhookReceiver>): Promise<WebhookReceiver> {
  const started = await receiver;
  receivers.push(started);
  return started;
}

/** A tenant of its own per case (nothing of one case's retries reaches another's provider). */
interface Case {
  tenantId: string;
  key: string;
}

/** A new tenant whose workflow `w` sends one webhook per event through an integration at `url`. */
async function webhookTenant(url: string): Promise<Case> {
  const created = await server.call('POST', '/v1/tenants', { name: 'chaos' }, { auth: OPERATOR_KEY });
  expect(created.status).toBe(201);
  const tenant: Case = { tenantId: created.body.tenantId, key: created.body.apiKey };
  const auth = { auth: tenant.key };
  const hook = await server.call(
    'PUT',
    '/v1/integrations/hook',
    { channel: 'webhook', provider: 'webhook', config: { url }, credentials: { secret: SECRET } },
    auth,
  );
  expect(hook.status, JSON.stringify(hook.body)).toBe(200);
  const workflow = await server.call(
    'PUT',
    '/v1/workflows/w',
    { channels: [{ channel: 'webhook', template: { text: '{{ data.n }}' } }] },
    auth,
  );
  expect(workflow.status).toBe(200);
  return tenant;
}

/** MESSAGES events, one per subscriber (so their sends run side by side). */
async function sendAll(tenant: Case): Promise<string[]> {
  const events = Array.from({ length: MESSAGES }, (_, n) => ({
    workflow: 'w',
    to: [`user_${n}`],
    data: { n },
  }));
  const posted = await server.call('POST', '/v1/events/bulk', { events }, { auth: tenant.key });
  expect(posted.status, JSON.stringify(posted.body)).toBe(202);
  return posted.body.results.map((r: { eventId: string }) => r.eventId);
}

async function messagesOf(tenant: Case, eventIds: string[]): Promise<MessageRecord[]> {
  const { store } = server.tidings;
  const lists = await Promise.all(
    eventIds.map((eventId) => store.listMessages({ tenantId: tenant.tenantId, eventId, limit: 10 })),
  );
  return lists.flat();
}

/** Waits until every message is final, then checks all were sent and the receiver saw each. */
async function expectAllSent(
  tenant: Case,
  eventIds: string[],
  receiver: WebhookReceiver,
  timeoutMs: number,
): Promise<void> {
  const messages = await waitFor(
    async () => {
      const found = await messagesOf(tenant, eventIds);
      return found.length === MESSAGES && found.every((m) => m.status === 'sent') ? found : null;
    },
    'every message sent',
    timeoutMs,
    100,
  ).catch(async (error: Error) => {
    const found = await messagesOf(tenant, eventIds);
    throw new Error(`${error.message}: ${JSON.stringify(found.map((m) => [m.status, m.lastError]))}`);
  });
  const ids = new Set(messages!.map((m) => m.id));
  const seen = new Map<string, number>();
  for (const request of receiver.received) {
    const id = request.headers['webhook-id']!;
    expect(ids.has(id), `webhook-id ${id} names a message of this run`).toBe(true);
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  // Every message reached the receiver; whatever came twice came under its own id.
  expect(seen.size).toBe(MESSAGES);
}

describe('chaos at the provider: every message ends sent, none lost', () => {
  it('a provider that refuses connections, then comes up', async () => {
    const port = await freePort();
    const tenant = await webhookTenant(`http://127.0.0.1:${port}/`);
    const eventIds = await sendAll(tenant);
    // Wait until every message was refused at least once (queued again with the error).
    await waitFor(
      async () => {
        const found = await messagesOf(tenant, eventIds);
        return (
          found.length === MESSAGES &&
          found.every((m) =>
            m.timeline.some((entry) => /no response from the receiver/.test(entry.detail ?? '')),
          )
        );
      },
      'every send refused once',
      10_000,
    );
    const receiver = await track(startWebhookReceiver({ port }));
    await expectAllSent(tenant, eventIds, receiver, 20_000);
  }, 30_000);

  it('a provider that hangs past the timeout for a while', async () => {
    // The webhook client gives up after 10 s: the first three requests are held past that.
    const hang: ScriptedResponse = { status: 200, delayMs: 11_000 };
    const receiver = await track(startWebhookReceiver({ script: [hang, hang, hang] }));
    const tenant = await webhookTenant(receiver.url);
    const eventIds = await sendAll(tenant);
    await expectAllSent(tenant, eventIds, receiver, 25_000);
    const hung = new Set(receiver.received.slice(0, 3).map((r) => r.headers['webhook-id']));
    // The held ones were sent again, under the same webhook-id.
    for (const id of hung)
      expect(receiver.received.filter((r) => r.headers['webhook-id'] === id).length).toBe(2);
  }, 30_000);

  it('a provider that answers 500 for a while, then recovers', async () => {
    const failing: ScriptedResponse = { status: 500, body: '{"error":"internal"}' };
    const receiver = await track(startWebhookReceiver({ script: Array.from({ length: 15 }, () => failing) }));
    const tenant = await webhookTenant(receiver.url);
    const eventIds = await sendAll(tenant);
    await expectAllSent(tenant, eventIds, receiver, 25_000);
    expect(receiver.received.filter((r) => r.status === 500)).toHaveLength(15);
    expect(receiver.received.filter((r) => r.status === 200)).toHaveLength(MESSAGES);
  }, 30_000);
});
