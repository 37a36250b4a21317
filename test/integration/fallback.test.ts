import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { execSql } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * Receipts and receipt-driven fallback chains, end to end through the public API: push (the
 * sandbox, to a registered device) with SMS (the sandbox) as its fallback after 2 s unless
 * delivered; a webhook refused for good (400) with SMS as its fallback after 30 s; in-app with
 * email as its fallback unless read.
 */

let server: TestServer;
let receiver: WebhookReceiver;
const APNS_TOKEN = 'a1'.repeat(32);
let n = 0;

beforeAll(async () => {
  [server, receiver] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startWebhookReceiver({ defaultResponse: { status: 400, body: '{"error":"no"}' } }),
  ]);
  const hook = await server.call('PUT', '/v1/integrations/hook', {
    channel: 'webhook',
    provider: 'webhook',
    config: { url: receiver.url },
    credentials: { secret: 'whsec_fallback_test_secret_0000' },
  });
  expect(hook.status).toBe(200);
  const workflows: Record<string, unknown> = {
    alert: {
      channels: [
        { channel: 'push', template: { title: 'Alert', body: 'Node {{ data.node }} is down' } },
        {
          channel: 'sms',
          fallback: { after: '2s', unless: 'delivered' },
          template: { body: 'ALERT node {{ data.node }}' },
        },
      ],
    },
    'hook-alert': {
      channels: [
        { channel: 'webhook', template: { body: 'Node {{ data.node }} is down' } },
        {
          channel: 'sms',
          fallback: { after: '30s', unless: 'delivered' },
          template: { body: 'ALERT node {{ data.node }}' },
        },
      ],
    },
    'maybe-sms': {
      channels: [
        { channel: 'push', template: { body: 'Node {{ data.node }} is down' } },
        {
          channel: 'sms',
          if: 'data.urgent',
          fallback: { after: '1s', unless: 'delivered' },
          template: { body: 'ALERT node {{ data.node }}' },
        },
      ],
    },
    mention: {
      channels: [
        { channel: 'in_app', template: { title: 'You were mentioned' } },
        {
          channel: 'email',
          fallback: { after: '2s', unless: 'read' },
          template: { subject: 'You were mentioned', text: 'See the app' },
        },
      ],
    },
  };
  for (const [key, body] of Object.entries(workflows))
    expect((await server.call('PUT', `/v1/workflows/${key}`, body)).status).toBe(200);
});

afterAll(async () => {
  await Promise.all([server?.close(), receiver?.close()]);
});

/** A new subscriber with a phone, an email and (for push) an APNs device. */
async function subscriber(): Promise<string> {
  n += 1;
  const id = `fb_${n}`;
  const put = await server.call('PUT', `/v1/subscribers/${id}`, {
    phone: `+1555000${String(n).padStart(4, '0')}`,
    email: `${id}@example.com`,
  });
  expect(put.status).toBe(200);
  const device = await server.call('PUT', `/v1/subscribers/${id}/devices/phone`, {
    platform: 'apns',
    token: APNS_TOKEN.slice(0, 62) + String(n).padStart(2, '0'),
  });
  expect(device.status).toBe(200);
  return id;
}

async function trigger(workflow: string, to: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await server.call('POST', '/v1/events', {
    workflow,
    to: [to],
    data: { node: 'db-1' },
    ...extra,
  });
  expect(res.status).toBe(202);
  return res.body.eventId;
}

async function messagesOf(eventId: string): Promise<Json[]> {
  return (await server.call('GET', `/v1/messages?eventId=${eventId}`)).body.items;
}

/** The event's message on `channel` once `ready` holds for it. */
function messageOn(eventId: string, channel: string, ready: (m: Json) => boolean, timeoutMs = 10_000) {
  return waitFor(
    async () => (await messagesOf(eventId)).find((m) => m.channel === channel && ready(m)),
    `the ${channel} message of ${eventId}`,
    timeoutMs,
  );
}

const entryAt = (m: Json, status: string) => Date.parse(m.timeline.find((e: Json) => e.status === status).at);

const receipt = (messageId: string, status: unknown, auth?: string) =>
  server.call('POST', `/v1/messages/${messageId}/receipt`, { status }, auth ? { auth } : undefined);

const tokenOf = async (subscriberId: string): Promise<string> =>
  (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;

async function smsCaptures(messageId: string): Promise<number> {
  const { items } = (await server.call('GET', '/v1/sandbox/messages?channel=sms&limit=500')).body;
  return items.filter((c: Json) => c.messageId === messageId).length;
}

const statusOf = async (eventId: string): Promise<string> =>
  (await server.call('GET', `/v1/events/${eventId}`)).body.status;

/** Every job has run (fallback timers included): nothing more will happen on its own. */
function queueDrained(): Promise<boolean> {
  return waitFor(async () => {
    const jobs = await server.tidings.store.countJobs();
    return jobs.ready === 0 && jobs.leased === 0;
  }, 'an empty queue');
}

describe('fallback chains', () => {
  it('sends no SMS when the push gets a delivered receipt within the window: the SMS is cancelled naming it', async () => {
    const id = await subscriber();
    const eventId = await trigger('alert', id);
    const push = await messageOn(eventId, 'push', (m) => m.status === 'sent');
    const token = await tokenOf(id);
    const res = await receipt(push.messageId, 'delivered', token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ messageId: push.messageId, status: 'delivered' });

    const sms = await messageOn(eventId, 'sms', () => true);
    expect(sms.status).toBe('cancelled');
    expect(sms.reason).toBe('receipt');
    const last = sms.timeline.at(-1);
    expect(last.status).toBe('cancelled');
    expect(last.detail).toContain(`push message ${push.messageId} reached delivered`);
    // Decided once the window ended, not before.
    expect(Date.parse(last.at) - entryAt(push, 'sent')).toBeGreaterThanOrEqual(2000);
    expect(await smsCaptures(sms.messageId)).toBe(0);
    const pushNow = (await server.call('GET', `/v1/messages/${push.messageId}`)).body;
    expect(pushNow.escalated).toBe(false);
    expect(pushNow.status).toBe('delivered');
  });

  it('sends exactly one SMS at least 2 s after the push when no receipt comes, and marks the push escalated', async () => {
    const id = await subscriber();
    const eventId = await trigger('alert', id);
    const sms = await messageOn(eventId, 'sms', (m) => m.status === 'sent');
    const push = await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${eventId}`)).body;
      return view.messages.find((m: Json) => m.channel === 'push' && m.escalated);
    }, 'the escalated push message');
    expect(push.status).toBe('sent');
    expect(entryAt(sms, 'sent') - entryAt(push, 'sent')).toBeGreaterThanOrEqual(2000);
    const escalation = push.timeline.find((e: Json) => e.status === 'escalated');
    expect(escalation.detail).toContain(`sms message ${sms.messageId}`);
    expect(
      sms.timeline.some((e: Json) => e.status === 'fallback' && e.detail.includes('no delivered receipt')),
    ).toBe(true);
    const full = (await server.call('GET', `/v1/messages/${push.messageId}`)).body;
    expect(full.escalated).toBe(true);
    await queueDrained();
    expect((await messagesOf(eventId)).filter((m) => m.channel === 'sms')).toHaveLength(1);
    expect(await smsCaptures(sms.messageId)).toBe(1);
    expect(full.timeline.filter((e: Json) => e.status === 'escalated')).toHaveLength(1);
  });

  it('sends the SMS at once when the previous step fails for good (a webhook answering 400)', async () => {
    const id = await subscriber();
    const accepted = Date.now();
    const eventId = await trigger('hook-alert', id);
    // The window is 30 s: an SMS well before it can only come from the failure.
    const sms = await messageOn(eventId, 'sms', (m) => m.status === 'sent', 15_000);
    expect(entryAt(sms, 'sent') - accepted).toBeLessThan(15_000);
    const hook = await messageOn(eventId, 'webhook', (m) => m.escalated);
    expect(hook.status).toBe('failed');
    expect(hook.reason).toBe('provider_rejected');
    expect(hook.timeline.find((e: Json) => e.status === 'escalated').detail).toContain(sms.messageId);
    expect(sms.timeline.find((e: Json) => e.status === 'fallback').detail).toContain(
      'webhook did not go out',
    );
  });

  it('sends the SMS at once when the push has no device to go to', async () => {
    const put = await server.call('PUT', '/v1/subscribers/fb_nodevice', { phone: '+15550009999' });
    expect(put.status).toBe(200);
    const eventId = await trigger('alert', 'fb_nodevice');
    const sms = await messageOn(eventId, 'sms', (m) => m.status === 'sent');
    const push = await messageOn(eventId, 'push', (m) => m.escalated);
    expect(push.status).toBe('suppressed');
    expect(push.reason).toBe('no_device');
    expect(entryAt(sms, 'sent') - Date.parse(push.createdAt)).toBeLessThan(2000);
  });

  it("applies a fallback step's `if`: false skips it, true sends it", async () => {
    const put = await server.call('PUT', '/v1/subscribers/fb_cond', { phone: '+15550008888' });
    expect(put.status).toBe(200);
    const calm = await trigger('maybe-sms', 'fb_cond', { data: { node: 'db-2', urgent: false } });
    const urgent = await trigger('maybe-sms', 'fb_cond', { data: { node: 'db-3', urgent: true } });
    await messageOn(urgent, 'sms', (m) => m.status === 'sent');
    const view = await waitFor(async () => {
      const body = (await server.call('GET', `/v1/events/${calm}`)).body;
      return body.skipped.length > 0 ? body : null;
    }, 'the skipped fallback step');
    expect(view.skipped).toEqual([
      { subscriberId: 'fb_cond', channel: 'sms', step: 1, reason: 'condition false: data.urgent' },
    ]);
    await queueDrained();
    expect((await messagesOf(calm)).map((m) => m.channel)).toEqual(['push']);
    // The push went nowhere and its fallback was skipped: nothing escalated.
    expect((await messagesOf(calm))[0].escalated).toBe(false);
  });

  it('counts reading the inbox item as the read receipt of the in-app message', async () => {
    const id = await subscriber();
    const eventId = await trigger('mention', id);
    const inApp = await messageOn(eventId, 'in_app', () => true);
    const token = await tokenOf(id);
    const read = await server.call('POST', `/v1/inbox/${inApp.messageId}/read`, undefined, { auth: token });
    expect(read.status).toBe(200);
    const email = await messageOn(eventId, 'email', () => true);
    expect(email.status).toBe('cancelled');
    expect(email.timeline.at(-1).detail).toContain(`in_app message ${inApp.messageId} reached read`);
  });

  it('sends the in-app fallback when the item stays unread; the event reads processing until then', async () => {
    const id = await subscriber();
    const eventId = await trigger('mention', id);
    // Delivered when written, with the email's timer queued by the same write: final, but the
    // fallback still to fire is the event's work.
    await messageOn(eventId, 'in_app', (m) => m.status === 'delivered');
    expect(await statusOf(eventId)).toBe('processing');
    const email = await messageOn(eventId, 'email', (m) => m.status === 'sent');
    const inApp = await messageOn(eventId, 'in_app', (m) => m.escalated);
    expect(inApp.status).toBe('delivered');
    expect(entryAt(email, 'sent') - Date.parse(inApp.createdAt)).toBeGreaterThanOrEqual(2000);
    await waitFor(async () => (await statusOf(eventId)) === 'completed', 'the event to complete');
    // Completed, but a provider's later bounce or failure could still fire a fallback step of its
    // workflow: a cancel is stored, so that nothing comes after it.
    const cancel = await server.call('DELETE', `/v1/events/${eventId}`);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toEqual({ eventId, status: 'cancelled', cancelledMessages: 0 });
    expect(await statusOf(eventId)).toBe('cancelled');
  });

  it('stops a pending fallback when the event is cancelled, by id or by cancellationKey', async () => {
    const byId = await subscriber();
    const byKey = await subscriber();
    const waiting = await subscriber();
    const legacy = await subscriber();
    const first = await trigger('alert', byId);
    const second = await trigger('alert', byKey, { cancellationKey: `incident-${byKey}` });
    const third = await trigger('mention', waiting);
    const fourth = await trigger('mention', legacy);
    await messageOn(first, 'push', (m) => m.status === 'sent');
    await messageOn(second, 'push', (m) => m.status === 'sent');
    await messageOn(third, 'in_app', (m) => m.status === 'delivered');
    await messageOn(fourth, 'in_app', (m) => m.status === 'delivered');
    // As an event accepted before every part was counted (migration 046) reads: by its messages.
    await execSql(server.databaseUrl, `UPDATE events SET counts_every_part = NULL WHERE id = '${fourth}'`);
    expect(await statusOf(fourth)).toBe('completed');
    // Their messages are final or sent, but each still waits for its fallback.
    for (const eventId of [first, third]) expect(await statusOf(eventId)).toBe('processing');
    expect((await server.call('DELETE', `/v1/events/${first}`)).status).toBeLessThan(300);
    const cancel = await server.call('DELETE', `/v1/events?cancellationKey=incident-${byKey}`);
    expect(cancel.status).toBeLessThan(300);
    const cancelThird = await server.call('DELETE', `/v1/events/${third}`);
    expect(cancelThird.status).toBe(200);
    expect(cancelThird.body).toEqual({ eventId: third, status: 'cancelled', cancelledMessages: 0 });
    // Its fallback may still wait, uncounted: cancelled as before.
    expect((await server.call('DELETE', `/v1/events/${fourth}`)).body.status).toBe('cancelled');
    // The fallback jobs fire 2 s after the first messages and find their events cancelled.
    await queueDrained();
    expect((await messagesOf(first)).map((m) => m.channel)).toEqual(['push']);
    expect((await messagesOf(second)).map((m) => m.channel)).toEqual(['push']);
    expect((await messagesOf(third)).map((m) => m.channel)).toEqual(['in_app']);
    expect((await messagesOf(fourth)).map((m) => m.channel)).toEqual(['in_app']);
    expect(await statusOf(third)).toBe('cancelled');
  });
});

describe('receipts', () => {
  it('answers 404 for an unknown message and for another subscriber’s with a subscriber token', async () => {
    expect((await receipt('msg_unknown', 'delivered')).status).toBe(404);
    const owner = await subscriber();
    const stranger = await subscriber();
    const eventId = await trigger('alert', owner);
    const push = await messageOn(eventId, 'push', (m) => m.status === 'sent');
    const denied = await receipt(push.messageId, 'read', await tokenOf(stranger));
    expect(denied.status).toBe(404);
    expect(denied.body.error.code).toBe('not_found');
    const after = (await server.call('GET', `/v1/messages/${push.messageId}`)).body;
    expect(after.status).toBe('sent');
  });

  it('refuses a status that is no receipt with 400 naming the field', async () => {
    const id = await subscriber();
    const eventId = await trigger('alert', id);
    const push = await messageOn(eventId, 'push', () => true);
    for (const bad of ['sent', 'failed', 42, null]) {
      const res = await receipt(push.messageId, bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.map((d: Json) => d.path)).toContain('status');
    }
    const empty = await server.call('POST', `/v1/messages/${push.messageId}/receipt`, {});
    expect(empty.status).toBe(400);
  });

  it('only moves forward and never revives a message that did not go out', async () => {
    const id = await subscriber();
    const eventId = await trigger('hook-alert', id);
    const push = await messageOn(eventId, 'webhook', (m) => m.status === 'failed');
    const revive = await receipt(push.messageId, 'delivered');
    expect(revive.status).toBe(409);
    expect(revive.body.error.code).toBe('conflict');
    expect((await server.call('GET', `/v1/messages/${push.messageId}`)).body.status).toBe('failed');

    const sms = await messageOn(eventId, 'sms', (m) => m.status === 'sent', 15_000);
    expect((await receipt(sms.messageId, 'clicked')).body.status).toBe('clicked');
    const older = await receipt(sms.messageId, 'read');
    expect(older.status).toBe(200);
    expect(older.body.status).toBe('clicked');
    const timeline = (await server.call('GET', `/v1/messages/${sms.messageId}`)).body.timeline;
    expect(timeline.filter((e: Json) => e.status === 'clicked')).toHaveLength(1);
    expect(timeline.some((e: Json) => e.status === 'read')).toBe(false);
  });

  it('marks an in-app message read in the inbox when a read receipt comes from the server', async () => {
    const id = await subscriber();
    const eventId = await trigger('mention', id);
    const inApp = await messageOn(eventId, 'in_app', () => true);
    const token = await tokenOf(id);
    expect((await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count).toBe(
      1,
    );
    expect((await receipt(inApp.messageId, 'read')).body.status).toBe('read');
    expect((await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count).toBe(
      0,
    );
  });
});

describe('workflow fallback settings', () => {
  it('refuses a fallback on the first step, on a channel used before it, or after more than 30 days', async () => {
    const put = (channels: unknown[]) => server.call('PUT', '/v1/workflows/bad-fallback', { channels });
    const first = await put([
      { channel: 'sms', fallback: { after: '1s', unless: 'delivered' }, template: { body: 'x' } },
    ]);
    expect(first.status).toBe(400);
    expect(first.body.error.details.map((d: Json) => d.path)).toEqual(['channels[0].fallback']);
    const repeated = await put([
      { channel: 'sms', template: { body: 'x' } },
      { channel: 'sms', fallback: { after: '1s', unless: 'delivered' }, template: { body: 'y' } },
    ]);
    expect(repeated.status).toBe(400);
    expect(repeated.body.error.details.map((d: Json) => d.path)).toEqual(['channels[1].channel']);
    const long = await put([
      { channel: 'push', template: { body: 'x' } },
      { channel: 'sms', fallback: { after: '31d', unless: 'delivered' }, template: { body: 'y' } },
    ]);
    expect(long.status).toBe(400);
    expect(long.body.error.details.map((d: Json) => d.path)).toEqual(['channels[1].fallback.after']);
  });
});
