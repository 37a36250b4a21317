import { describe, expect, it } from 'vitest';
import { LANE_MAX_SHARE, tenantCaps, workerCaps } from '../../src/policy/lanes.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// Every tenant may be hostile to every other. A tenant chooses the URLs Tidings calls for it (a
// webhook integration's config.url here) and may point them at a tarpit that takes the request
// and holds its answer. Its sends then hold this process's worker slots until their deadline
// (10 s for a webhook), and a tenant with many messages queued takes every slot freed meanwhile.
// Another tenant's message must still go out at once.

const OPERATOR_KEY = 'op_isolation_test_0123456789abcdef0123';
const SECRET = `whsec_${Buffer.from('isolation-test-signing-key').toString('base64')}`;
/** Small, so the tarpit needs few requests to fill a tenant's share (the shares scale with it). */
const CONCURRENCY = 16;
/**
 * How long B's message may take: well inside the webhook's 10 s deadline, so A's held requests
 * have not timed out (and freed their slots) when B's must be sent.
 */
const B_WITHIN_MS = 5_000;

/** A receiver that takes every request and answers none until the test calls `release`. */
async function startTarpit(): Promise<WebhookReceiver & { release(): void }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const receiver = await startWebhookReceiver({ defaultResponse: { status: 200, until: released } });
  return Object.assign(receiver, { release });
}

async function tenantWithWebhook(server: TestServer, url: string): Promise<string> {
  const created = await server.call('POST', '/v1/tenants', { name: 'tenant' }, { auth: OPERATOR_KEY });
  expect(created.status).toBe(201);
  const auth = { auth: created.body.apiKey as string };
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
    { channels: [{ channel: 'webhook', template: { text: 'hello {{ data.n }}' } }] },
    auth,
  );
  expect(workflow.status).toBe(200);
  return auth.auth;
}

/**
 * Tenant A floods a tarpit with the messages of `flood` (one event per priority listed, each to
 * `perEvent` subscribers) until `aHolds` of its requests are held there; then tenant B sends one
 * message to a prompt receiver, which must be sent while every request of A's is still held.
 * Answers how many requests A had in flight at the tarpit when B's went out.
 */
async function bSentWhileAHangs(flood: readonly string[], perEvent: number, aHolds: number): Promise<number> {
  const [server, tarpit, prompt] = await Promise.all([
    startTestServer({
      TIDINGS_OPERATOR_KEY: OPERATOR_KEY,
      TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
      TIDINGS_WORKER_CONCURRENCY: String(CONCURRENCY),
    }),
    startTarpit(),
    startWebhookReceiver(),
  ]);
  try {
    const a = await tenantWithWebhook(server, tarpit.url);
    const b = await tenantWithWebhook(server, prompt.url);
    const floods = await server.call(
      'POST',
      '/v1/events/bulk',
      {
        events: flood.map((priority, n) => ({
          workflow: 'w',
          priority,
          to: Array.from({ length: perEvent }, (_, i) => `a-${n}-${i}`),
          data: { n },
        })),
      },
      { auth: a },
    );
    expect(floods.status).toBe(202);
    // A's share of the worker is taken: those requests sit at the tarpit, unanswered.
    await tarpit.waitFor(aHolds, 10_000);

    const sentAt = Date.now();
    const event = await server.call(
      'POST',
      '/v1/events',
      { workflow: 'w', to: ['b-1'], data: { n: 1 } },
      { auth: b },
    );
    expect(event.status).toBe(202);
    await prompt.waitFor(1, B_WITHIN_MS);
    const sent = await waitFor(
      async () => {
        const view = await server.call('GET', `/v1/events/${event.body.eventId}`, undefined, { auth: b });
        return view.body.messages?.[0]?.status === 'sent' ? view.body.messages[0] : null;
      },
      "B's message sent",
      B_WITHIN_MS - (Date.now() - sentAt),
    );
    expect(sent.subscriberId).toBe('b-1');
    // Nothing of A's was answered yet: B did not get its slot from a request of A's timing out.
    const held = tarpit.received.length;
    expect(held).toBeGreaterThanOrEqual(aHolds);
    return held;
  } finally {
    tarpit.release();
    await server.close();
    await Promise.all([tarpit.close(), prompt.close()]);
  }
}

describe("a tenant's tarpit does not delay another tenant's sends", () => {
  it('a flood in one lane leaves the lane room for others', async () => {
    // A holds three quarters of the normal lane's room (tenantCaps), at most.
    const room = Math.floor(CONCURRENCY * LANE_MAX_SHARE.normal);
    const aHolds = room - Math.floor(room / 4);
    expect(tenantCaps('normal', CONCURRENCY, aHolds, new Map([['a', aHolds]])).byTenant.a).toBe(0);
    const held = await bSentWhileAHangs(['normal'], 3 * room, aHolds);
    expect(held).toBe(aHolds);
  });

  it('a flood in every lane at once leaves an eighth of the worker to others', async () => {
    // Each lane caps a tenant on its own; across the four A could take every slot, B's event
    // then waiting for one of A's requests to time out.
    const bounds = workerCaps(CONCURRENCY, new Map());
    const held = await bSentWhileAHangs(
      ['critical', 'high', 'normal', 'bulk'],
      2 * CONCURRENCY,
      bounds.normal.fresh,
    );
    expect(held).toBeLessThanOrEqual(bounds.critical.fresh);
    expect(bounds.critical.fresh).toBeLessThan(CONCURRENCY);
  });
});

describe("a tenant's own critical work does not wait behind its hanging sends", () => {
  it('a tenant whose normal, high and bulk sends hold their bounds still gets its critical event through', async () => {
    const [server, tarpit] = await Promise.all([
      startTestServer({
        TIDINGS_OPERATOR_KEY: OPERATOR_KEY,
        TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
        TIDINGS_WORKER_CONCURRENCY: String(CONCURRENCY),
      }),
      startTarpit(),
    ]);
    try {
      const a = await tenantWithWebhook(server, tarpit.url);
      const auth = { auth: a };
      // An SMS through the sandbox (the tenant has no SMS integration): a send job, like the flood's.
      const mfa = await server.call(
        'PUT',
        '/v1/workflows/mfa',
        { channels: [{ channel: 'sms', template: { text: 'code {{ data.code }}' } }] },
        auth,
      );
      expect(mfa.status).toBe(200);
      const phone = await server.call('PUT', '/v1/subscribers/a-mfa', { phone: '+15555550100' }, auth);
      expect(phone.status).toBeLessThan(300);
      const floods = await server.call(
        'POST',
        '/v1/events/bulk',
        {
          events: ['normal', 'high', 'bulk'].map((priority, n) => ({
            workflow: 'w',
            priority,
            to: Array.from({ length: 2 * CONCURRENCY }, (_, i) => `a-${n}-${i}`),
            data: { n },
          })),
        },
        auth,
      );
      expect(floods.status).toBe(202);
      // The tenant's normal, high and bulk sends hold all they may of the worker (workerCaps).
      const bound = workerCaps(CONCURRENCY, new Map()).high.fresh;
      await tarpit.waitFor(bound, 10_000);

      const sentAt = Date.now();
      const event = await server.call(
        'POST',
        '/v1/events',
        { workflow: 'mfa', priority: 'critical', to: ['a-mfa'], data: { code: 123456 } },
        auth,
      );
      expect(event.status).toBe(202);
      const message = await waitFor(
        async () => {
          const view = await server.call('GET', `/v1/events/${event.body.eventId}`, undefined, auth);
          return view.body.messages?.[0]?.status === 'sent' ? view.body.messages[0] : null;
        },
        'the critical SMS sent',
        B_WITHIN_MS,
      );
      expect(message.subscriberId).toBe('a-mfa');
      expect(Date.now() - sentAt).toBeLessThan(B_WITHIN_MS);
      // None of the hanging sends was answered: the critical work did not get a slot of theirs.
      expect(tarpit.received.length).toBe(bound);
    } finally {
      tarpit.release();
      await server.close();
      await tarpit.close();
    }
  });
});
