import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addressHash } from '../../src/feedback/address.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import type { FakeSmtp } from '../fakes/smtp.ts';
import { type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { racingStore } from '../helpers/racing-store.ts';
import { runSends } from '../helpers/send-handler.ts';
import type { TestServer } from '../helpers/server.ts';
import { queuedJobs } from '../helpers/store-under-test.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * Guarantee 7 (DESIGN.md) and API.md's "effective for every send after the PATCH returns", in the
 * window every send has: its batch reads consent, then records `sending`, then calls the provider.
 * A change that returns between the read and the record must still hold the message back.
 */

let setup: ServerWithMail;
let server: TestServer;
let smtp: FakeSmtp;

const workflowBody = (extra: Record<string, unknown> = {}) => ({
  channels: [{ channel: 'email', template: { subject: 'News', text: 'News' } }],
  ...extra,
});

beforeAll(async () => {
  setup = await startServerWithMail();
  ({ server, smtp } = setup);
});

afterAll(() => setup?.close());

beforeEach(() => smtp.reset());

/**
 * Runs the send of `messageId` over the server's store, with `between` (another request) run and
 * finished right before the send's `sending` record is written: after the batch read consent.
 */
async function sendWith(messageId: string, between: () => Promise<unknown>) {
  const racing = racingStore(server.tidings.store, 'updateMessages', between, {
    once: true,
    when: (updates) => updates.some((u) => u.update.status === 'sending'),
  });
  const results = await runSends(server, [messageId], {
    store: racing.store,
    allowPrivateTargets: LOOPBACK_TARGETS,
  });
  expect(racing.ran()).toBe(1);
  return results;
}

/** A queued email of `workflow` to a new subscriber, as deliver writes it (its send is run by the test). */
async function queuedEmail(workflow: string, name: string) {
  expect((await server.call('PUT', `/v1/workflows/${workflow}`, workflowBody())).status).toBe(200);
  const subscriberId = `consent_${name}`;
  await server.call('PUT', `/v1/subscribers/${subscriberId}`, { email: `${subscriberId}@example.com` });
  const id = `msg_${name}`;
  await server.tidings.store.createMessages([
    {
      record: messageRecord({
        tenantId: 'default',
        id,
        subscriberId,
        channel: 'email',
        workflow,
        status: 'queued',
        provider: null,
        content: { subject: 'News', text: 'News' },
        timeline: [{ at: new Date().toISOString(), status: 'queued', detail: 'normal lane' }],
        eventAt: Date.now(),
        createdAt: Date.now(),
        updatedAt: Date.now(),
      }),
      followUp: null,
    },
  ]);
  return { id, subscriberId, address: `${subscriberId}@example.com` };
}

const mailTo = (address: string) => smtp.received.filter((m) => m.envelope.to.includes(address)).length;
const messageView = async (id: string): Promise<Json> =>
  (await server.call('GET', `/v1/messages/${id}`)).body;
const statuses = (view: Json) => view.timeline.map((e: Json) => e.status);

describe('a consent change that returns after a send read consent and before it records `sending`', () => {
  it('an opt-out PATCH: the message is suppressed and the provider gets nothing', async () => {
    const { id, subscriberId, address } = await queuedEmail('consent-optout', 'optout');
    await sendWith(id, async () => {
      const patched = await server.call('PATCH', `/v1/subscribers/${subscriberId}/preferences`, {
        channels: { email: false },
      });
      expect(patched.status).toBe(200);
    });
    const view = await messageView(id);
    expect(view.status).toBe('suppressed');
    expect(view.reason).toBe('opted_out');
    expect(statuses(view)).toEqual(['queued', 'sending', 'suppressed']);
    expect(view.timeline.at(-1).detail).toMatch(/ \(seen before \S+ was called\)$/);
    expect(mailTo(address)).toBe(0);
  });

  it('the kill switch: the message is cancelled (workflow_paused) and the provider gets nothing', async () => {
    const { id, address } = await queuedEmail('consent-pause', 'pause');
    await sendWith(id, async () => {
      const paused = await server.call('PUT', '/v1/workflows/consent-pause', workflowBody({ paused: true }));
      expect(paused.status).toBe(200);
    });
    const view = await messageView(id);
    expect(view.status).toBe('cancelled');
    expect(view.reason).toBe('workflow_paused');
    expect(mailTo(address)).toBe(0);
  });

  it("a bounce suppression of the subscriber's address: suppressed, nothing sent", async () => {
    const { id, address } = await queuedEmail('consent-bounce', 'bounce');
    await sendWith(id, () =>
      server.tidings.store.suppressAddress({
        tenantId: 'default',
        channel: 'email',
        addressHash: addressHash(server.tidings.store.personalData, 'email', address),
        reason: 'hard_bounce',
        detail: '550 mailbox unavailable',
        createdAt: Date.now(),
      }),
    );
    const view = await messageView(id);
    expect(view.status).toBe('suppressed');
    expect(mailTo(address)).toBe(0);
  });

  it('quiet hours set now: the message is deferred to the window’s end, with its send queued for then', async () => {
    const { id, subscriberId, address } = await queuedEmail('consent-quiet', 'quiet');
    await server.call('PUT', `/v1/subscribers/${subscriberId}`, { timezone: 'UTC' });
    // A window holding the whole day but its last minute before now: now is inside it.
    const now = new Date();
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const start = hhmm(new Date(now.getTime() - 60_000));
    const end = hhmm(new Date(now.getTime() - 120_000));
    await sendWith(id, async () => {
      const patched = await server.call('PATCH', `/v1/subscribers/${subscriberId}/preferences`, {
        quietHours: { start, end },
      });
      expect(patched.status).toBe(200);
    });
    const view = await messageView(id);
    expect(view.status).toBe('deferred');
    expect(statuses(view)).toEqual(['queued', 'sending', 'deferred']);
    expect(mailTo(address)).toBe(0);
    // The window ends in about 23 hours: that is when the message's send runs.
    const wakeUps = (await queuedJobs(server.databaseUrl, 'send')).filter(
      (job) => job.payload.messageId === id,
    );
    expect(wakeUps).toHaveLength(1);
    expect(wakeUps[0]!.runAt).toBeGreaterThan(Date.now() + 22 * 3_600_000);
  });

  it('with nothing changed, the send goes out as before (one provider call)', async () => {
    const { id, address } = await queuedEmail('consent-none', 'none');
    await sendWith(id, async () => {});
    const view = await messageView(id);
    expect(view.status).toBe('sent');
    expect(mailTo(address)).toBe(1);
  });
});
