import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDeliveries, type DeliveryTarget, loadTargets } from '../../src/pipeline/deliver.ts';
import { type FallbackPayload, fallbackJob } from '../../src/pipeline/fallback-timers.ts';
import { decideFallback } from '../../src/policy/fallback.ts';
import { iso } from '../../src/shared/time.ts';
import { type JobRunner, jobRunner } from '../helpers/job-runner.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { queuedJobs } from '../helpers/store-under-test.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * A fallback step whose build runs out of the batch's render budget (deliver.ts: the rest of a
 * target goes to `deferred`) is sent later as the fallback it is. The server runs only its API:
 * the test runs the jobs itself with the pipeline's own handlers, so it can fire a fallback job
 * in a batch whose budget a slow render of the same workflow has used up (a 3,000 × 3,000 loop
 * for subscriber `slow` only: real CPU past the 50 ms template budget, no sleeps).
 */

let server: TestServer;
let runner: JobRunner;
const SLOW =
  '{% if subscriber.id == "slow" %}{% for a in (1..3000) %}{% for b in (1..3000) %}{{ b }}{% endfor %}{% endfor %}{% endif %}';
let n = 0;

beforeAll(async () => {
  server = await startTestServer({}, ['api']);
  runner = jobRunner(server);
  const put = await server.call('PUT', '/v1/workflows/mention', {
    channels: [
      { channel: 'in_app', template: { title: `You were mentioned${SLOW}` } },
      {
        channel: 'email',
        fallback: { after: '0s', unless: 'read' },
        template: { subject: 'You were mentioned', text: 'See the app' },
      },
    ],
  });
  expect(put.status).toBe(200);
  expect((await server.call('PUT', '/v1/subscribers/slow', {})).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

/**
 * A new subscriber's mention delivered (its in-app message), and its email step's fallback job,
 * due, fired as fallback.ts fires it — in one batch after a render of the same workflow that
 * timed out, so the step is left for later. Answers the event and the in-app message.
 */
async function deferredFallback(): Promise<{ subscriberId: string; eventId: string; inApp: Json }> {
  n += 1;
  const subscriberId = `fd_${n}`;
  expect(
    (await server.call('PUT', `/v1/subscribers/${subscriberId}`, { email: `${subscriberId}@example.com` }))
      .status,
  ).toBe(200);
  const accepted = await server.call('POST', '/v1/events', { workflow: 'mention', to: [subscriberId] });
  expect(accepted.status).toBe(202);
  const eventId: string = accepted.body.eventId;
  const job = await runner.run({
    held: (j) => j.kind === 'fallback' && (j.payload as FallbackPayload).eventId === eventId,
  });
  expect(job).not.toBeNull();
  const { tenantId } = job!;
  const [inApp] = await messagesOf(eventId, subscriberId);
  expect(inApp).toMatchObject({ channel: 'in_app', status: 'delivered' });

  // What the fallback job decides (fallback.ts fire): send, its `because` heading the message.
  const [loaded] = await loadTargets(runner.deps, [{ tenantId, eventId }]);
  const stored = await runner.deps.store.listMessages({ tenantId, eventId, subscriberId, limit: 200 });
  const now = Date.now();
  const decision = decideFallback(loaded!.workflow.definition.channels, 1, stored, now);
  expect(decision.kind).toBe('send');
  const target: DeliveryTarget = {
    ...loaded!,
    subscriberIds: [subscriberId],
    steps: [1],
    fallback: {
      because: { at: iso(now), status: 'fallback', detail: (decision as { detail: string }).detail },
      stopped: false,
    },
  };
  // Ahead of it in the batch, the same workflow's in-app step for `slow`: its render times out.
  const slow: DeliveryTarget = { ...loaded!, subscriberIds: ['slow'], steps: [0] };
  const confirm = fallbackJob({ tenantId, eventId, subscriberId }, 1, loaded!.event.priority, now, true);
  await commitDeliveries(runner.deps, [slow, target], {
    owner: runner.owner,
    jobIds: [job!.id],
    followUps: [confirm],
  });

  // Not built in this batch: left for a later job, which is the step's own fallback job again.
  expect((await messagesOf(eventId, subscriberId)).map((m) => m.channel)).toEqual(['in_app']);
  const fallbacks = await queuedJobs(server.databaseUrl, 'fallback');
  expect(fallbacks.filter((j) => j.payload.subscriberId === subscriberId && !j.payload.confirm)).toEqual([
    expect.objectContaining({ payload: { eventId, subscriberId, step: 1 } }),
  ]);
  return { subscriberId, eventId, inApp };
}

/** The event's messages to `subscriberId`, in full, in-app first (its steps' order). */
async function messagesOf(eventId: string, subscriberId: string): Promise<Json[]> {
  const { items } = (await server.call('GET', `/v1/messages?eventId=${eventId}&subscriberId=${subscriberId}`))
    .body;
  const order = ['in_app', 'email'];
  const full = await Promise.all(
    items.map(async (m: Json) => (await server.call('GET', `/v1/messages/${m.messageId}`)).body),
  );
  return full.sort((a, b) => order.indexOf(a.channel) - order.indexOf(b.channel));
}

describe('a fallback step left for later by a batch out of render budget', () => {
  it('is sent by a later job as the fallback it is: its `fallback` entry, the step before marked escalated', async () => {
    const { subscriberId, eventId, inApp } = await deferredFallback();
    await runner.run();
    const [first, email] = await messagesOf(eventId, subscriberId);
    expect(email).toMatchObject({ channel: 'email', status: 'sent' });
    const because = email.timeline.find((e: Json) => e.status === 'fallback');
    expect(because.detail).toBe('fallback: no read receipt for in_app within 0s of its send');
    expect(first.messageId).toBe(inApp.messageId);
    expect(first.escalated).toBe(true);
    expect(first.timeline.at(-1)).toMatchObject({
      status: 'escalated',
      detail: `fallback sent: email message ${email.messageId}`,
    });
  });

  it('is decided again when it runs: a receipt that came meanwhile cancels it, naming the receipt', async () => {
    const { subscriberId, eventId, inApp } = await deferredFallback();
    const read = await server.call('POST', `/v1/messages/${inApp.messageId}/receipt`, { status: 'read' });
    expect(read.status).toBe(200);
    await runner.run();
    const [first, email] = await messagesOf(eventId, subscriberId);
    expect(email).toMatchObject({ channel: 'email', status: 'cancelled', reason: 'receipt' });
    expect(email.timeline.at(-1).detail).toContain(`in_app message ${inApp.messageId} reached read`);
    expect(email.timeline.some((e: Json) => e.status === 'fallback')).toBe(false);
    expect(first).toMatchObject({ status: 'read', escalated: false });
  });
});
