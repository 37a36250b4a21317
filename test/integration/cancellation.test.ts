import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import type { Store } from '../../src/store/port.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import type { FakeSmtp } from '../fakes/smtp.ts';
import { putSmtpIntegration, type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { runSends } from '../helpers/send-handler.ts';
import type { TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let setup: ServerWithMail;
let server: TestServer;
let smtp: FakeSmtp;
const OTHER_KEY = 'tdk_cancel_other_tenant_key_0000';
const other = { auth: OTHER_KEY };

/** In-app and email through the fake SMTP server. */
const twoChannels = {
  channels: [
    { channel: 'in_app', template: { title: 'Reminder {{ data.n }}' } },
    { channel: 'email', template: { subject: 'Reminder', text: 'Reminder {{ data.n }}' } },
  ],
};

beforeAll(async () => {
  setup = await startServerWithMail();
  ({ server, smtp } = setup);
  await server.tidings.store.ensureTenant('ten_cancel_other', 'Other');
  await addTenantKey(server.tidings.store, 'ten_cancel_other', OTHER_KEY, 'default');
  await putSmtpIntegration(server, smtp, { auth: OTHER_KEY });
  for (const auth of [undefined, other]) {
    expect((await server.call('PUT', '/v1/workflows/reminder', twoChannels, auth)).status).toBe(200);
  }
});

afterAll(() => setup?.close());

beforeEach(() => smtp.reset());

const cancelByKey = (key: string, auth?: { auth: string }) =>
  server.call('DELETE', `/v1/events?cancellationKey=${encodeURIComponent(key)}`, undefined, auth);

const eventView = async (eventId: string, auth?: { auth: string }) =>
  (await server.call('GET', `/v1/events/${eventId}`, undefined, auth)).body;

/** The event's view once it has `count` messages, none of them `queued` or `sending` any more. */
function settled(eventId: string, count: number, auth?: { auth: string }): Promise<Json> {
  return waitFor(async () => {
    const view = await eventView(eventId, auth);
    const done =
      view.messages?.length === count &&
      view.messages.every((m: Json) => !['queued', 'sending'].includes(m.status));
    return done ? view : null;
  }, `${count} settled messages of ${eventId}`);
}

function event(subscriberId: string, extra: Record<string, unknown>) {
  return {
    workflow: 'reminder',
    to: [{ subscriberId, email: `${subscriberId}@example.com` }],
    data: { n: 1 },
    ...extra,
  };
}

/** The fields an error names (a value may break more than one rule of its field). */
const paths = (error: Json): string[] => [...new Set<string>(error.details.map((d: Json) => d.path))];

async function inboxTitles(subscriberId: string): Promise<string[]> {
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
  const inbox = await server.call('GET', '/v1/inbox', undefined, { auth: token });
  return inbox.body.items.map((item: Json) => item.title);
}

describe('cancel by cancellationKey, through the public API', () => {
  it('scheduled events with the key (single and bulk) are cancelled before their sendAt: nothing is ever delivered', async () => {
    const sendAt = new Date(Date.now() + 1500).toISOString();
    const key = 'order 42/reminders';
    const single = await server.call(
      'POST',
      '/v1/events',
      event('sched_1', { sendAt, cancellationKey: key }),
    );
    expect(single.status).toBe(202);
    const bulk = await server.call('POST', '/v1/events/bulk', {
      events: [event('sched_2', { sendAt, cancellationKey: key, data: { n: 2 } })],
    });
    expect(bulk.status).toBe(202);
    const keyed = [single.body.eventId, bulk.body.results[0].eventId] as string[];
    // The control: the same subscriber, no key, due just after the keyed ones.
    const control = await server.call(
      'POST',
      '/v1/events',
      event('sched_1', { sendAt: new Date(Date.parse(sendAt) + 200).toISOString(), data: { n: 3 } }),
    );
    expect(control.status).toBe(202);

    const cancelled = await cancelByKey(key);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toEqual({ cancellationKey: key, cancelledEvents: 2, cancelledMessages: 0 });

    // Once the control has gone out, the keyed events' time has passed too: they made nothing.
    await settled(control.body.eventId, 2);
    for (const id of keyed) {
      const view = await eventView(id);
      expect(view.status).toBe('cancelled');
      expect(view.messages).toEqual([]);
      // The view shows when the event was due and its key, as sent.
      expect(view).toMatchObject({ sendAt, cancellationKey: key });
    }
    expect(await inboxTitles('sched_1')).toEqual(['Reminder 3']);
    expect(await inboxTitles('sched_2')).toEqual([]);
    expect(smtp.received.map((mail) => mail.envelope.to)).toEqual([['sched_1@example.com']]);
    // A repeat finds nothing left to cancel.
    expect((await cancelByKey(key)).body).toEqual({
      cancellationKey: key,
      cancelledEvents: 0,
      cancelledMessages: 0,
    });
  });

  it('an email deferred by quiet hours is cancelled by key, its timeline naming the key; a later event with the key is not', async () => {
    await server.call('PUT', '/v1/subscribers/quiet_1', { email: 'quiet_1@example.com', timezone: 'UTC' });
    const hhmm = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString().slice(11, 16);
    const quiet = await server.call('PATCH', '/v1/subscribers/quiet_1/preferences', {
      quietHours: { start: hhmm(-60), end: hhmm(60) },
    });
    expect(quiet.status).toBe(200);
    const sent = await server.call('POST', '/v1/events', event('quiet_1', { cancellationKey: 'digest-7' }));
    const held = await settled(sent.body.eventId, 2);
    const email = held.messages.find((m: Json) => m.channel === 'email');
    expect(email.status).toBe('deferred');
    expect(held.messages.find((m: Json) => m.channel === 'in_app').status).toBe('delivered');

    const cancelled = await cancelByKey('digest-7');
    expect(cancelled.body).toEqual({ cancellationKey: 'digest-7', cancelledEvents: 1, cancelledMessages: 1 });
    const message = (await server.call('GET', `/v1/messages/${email.messageId}`)).body;
    expect(message.status).toBe('cancelled');
    expect(message.timeline.at(-1)).toMatchObject({
      status: 'cancelled',
      detail: 'cancelled with its events by cancellationKey "digest-7"',
    });
    const view = await eventView(sent.body.eventId);
    expect(view.status).toBe('cancelled');
    // The in-app message had been delivered already: a cancel does not take it back.
    expect(view.messages.find((m: Json) => m.channel === 'in_app').status).toBe('delivered');

    // An event accepted after the cancel, with the same key, is delivered as usual.
    await server.call('PATCH', '/v1/subscribers/quiet_1/preferences', { quietHours: null });
    const later = await server.call('POST', '/v1/events', event('quiet_1', { cancellationKey: 'digest-7' }));
    const after = await settled(later.body.eventId, 2);
    expect(after.status).toBe('completed');
    expect(after.messages.find((m: Json) => m.channel === 'email').status).toBe('sent');
    expect(smtp.received.map((mail) => mail.envelope.to)).toEqual([['quiet_1@example.com']]);
    // Nothing left to stop (and no fallback step that a later bounce could fire): a cancel leaves
    // the event completed rather than relabel it.
    const done = await server.call('DELETE', `/v1/events/${later.body.eventId}`);
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ eventId: later.body.eventId, status: 'completed', cancelledMessages: 0 });
    expect((await eventView(later.body.eventId)).status).toBe('completed');
  });

  it("another tenant's events with the same key are untouched", async () => {
    const sendAt = new Date(Date.now() + 1000).toISOString();
    const mine = await server.call(
      'POST',
      '/v1/events',
      event('iso_1', { sendAt, cancellationKey: 'shared' }),
    );
    const theirs = await server.call(
      'POST',
      '/v1/events',
      event('iso_2', { sendAt, cancellationKey: 'shared' }),
      other,
    );
    expect([mine.status, theirs.status]).toEqual([202, 202]);

    expect((await cancelByKey('shared')).body).toMatchObject({ cancelledEvents: 1 });
    const delivered = await settled(theirs.body.eventId, 2, other);
    expect(delivered.status).toBe('completed');
    expect(delivered.messages.map((m: Json) => m.status).sort()).toEqual(['delivered', 'sent']);
    expect((await eventView(mine.body.eventId)).status).toBe('cancelled');
    // The other tenant cancelling the same key now finds its event already done: no message stopped.
    expect((await cancelByKey('shared', other)).body).toMatchObject({ cancelledMessages: 0 });
  });

  it('refuses a missing or malformed key with 400 naming the parameter, and a bad key in an event naming the field', async () => {
    for (const route of [
      '/v1/events',
      '/v1/events?cancellationKey=',
      `/v1/events?cancellationKey=${'k'.repeat(101)}`,
      '/v1/events?cancellationKey=a%00b',
      '/v1/events?cancellationKey=a%E2%80%AEb',
      '/v1/events?cancellationKey=a&cancellationKey=b',
    ]) {
      const refused = await server.call('DELETE', route);
      expect(refused.status, route).toBe(400);
      expect(paths(refused.body.error), route).toEqual(['cancellationKey']);
    }

    const bad = await server.call('POST', '/v1/events', event('bad_1', { cancellationKey: 'x\u202ey' }));
    expect(bad.status).toBe(400);
    expect(paths(bad.body.error)).toEqual(['cancellationKey']);
    const bulk = await server.call('POST', '/v1/events/bulk', {
      events: [event('bad_2', { cancellationKey: '' }), event('bad_3', { cancellationKey: 'ok' })],
    });
    expect(bulk.status).toBe(202);
    expect(paths(bulk.body.results[0].error)).toEqual(['events[0].cancellationKey']);
    expect(bulk.body.results[1].eventId).toMatch(/^evt_/);
  });
});

describe('a cancel racing the sends of its event', () => {
  /**
   * The send handler over the server's store, whose batch read of messages is followed at once by
   * `between` (what another request does in that moment): the race a claimed send and
   * `DELETE /v1/events` run every time a broadcast is cancelled while it drains.
   */
  async function sendWith(between: (store: Store) => Promise<unknown>, messageId: string) {
    const store = server.tidings.store;
    const racing = new Proxy(store, {
      get(target, property) {
        if (property === 'getMessages')
          return async (...args: Parameters<Store['getMessages']>) => {
            const read = await target.getMessages(...args);
            await between(target);
            return read;
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return runSends(server, [messageId], { store: racing, allowPrivateTargets: LOOPBACK_TARGETS });
  }

  /** Mails the fake received for `address` (other tests' sends may still arrive meanwhile). */
  const mailTo = (address: string) => smtp.received.filter((m) => m.envelope.to.includes(address)).length;

  /** A queued email of the reminder workflow, as deliver writes it (its send is run by the test). */
  async function queuedEmail(id: string, eventId = `evt_${id}`) {
    await server.call('PUT', `/v1/subscribers/race_${id}`, { email: `race_${id}@example.com` });
    await server.tidings.store.createMessages([
      {
        record: messageRecord({
          tenantId: 'default',
          id,
          eventId,
          subscriberId: `race_${id}`,
          channel: 'email',
          workflow: 'reminder',
          status: 'queued',
          provider: null,
          content: { subject: 'Reminder', text: 'Reminder 1' },
          timeline: [{ at: new Date().toISOString(), status: 'queued', detail: 'normal lane' }],
          eventAt: Date.now(),
          createdAt: Date.now(),
          updatedAt: Date.now(),
        }),
        followUp: null,
      },
    ]);
  }

  it('that lands after a send read its message stands: the message stays cancelled and nothing reaches the provider', async () => {
    await queuedEmail('msg_race_cancelled');
    await sendWith(
      (store) => store.cancelEvent('default', 'evt_msg_race_cancelled', Date.now()),
      'msg_race_cancelled',
    );
    const view = (await server.call('GET', '/v1/messages/msg_race_cancelled')).body;
    expect(view.status).toBe('cancelled');
    expect(view.timeline.map((e: Json) => e.status)).toEqual(['queued', 'cancelled']);
    expect(mailTo('race_msg_race_cancelled@example.com')).toBe(0);
  });

  it('stops a send of a message that was queued before its event was cancelled', async () => {
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const accepted = await server.call('POST', '/v1/events', event('race_late', { sendAt }));
    expect(accepted.status).toBe(202);
    const { eventId } = accepted.body;
    await queuedEmail('msg_race_late', eventId);
    // The cancel lands between the send's read of its message and its record (sendWith).
    await sendWith((store) => store.cancelEvent('default', eventId, Date.now()), 'msg_race_late');
    const view = (await server.call('GET', '/v1/messages/msg_race_late')).body;
    expect(view.status).toBe('cancelled');
    expect(view.timeline.map((e: Json) => `${e.status}: ${e.detail}`)).toEqual([
      'queued: normal lane',
      'cancelled: event cancelled',
    ]);
    expect(mailTo('race_msg_race_late@example.com')).toBe(0);
  });

  it('writes nothing for a delivery under way when its event was cancelled first', async () => {
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const accepted = await server.call('POST', '/v1/events', event('race_later', { sendAt }));
    const { eventId } = accepted.body;
    expect((await server.call('DELETE', `/v1/events/${eventId}`)).status).toBe(200);
    // As a delivery that read the event before the cancel commits its messages after it.
    await queuedEmail('msg_race_later', eventId);
    expect((await server.call('GET', '/v1/messages/msg_race_later')).status).toBe(404);
    expect(mailTo('race_msg_race_later@example.com')).toBe(0);
  });

  it('sends as before when nothing came between', async () => {
    await queuedEmail('msg_race_sent');
    await sendWith(async () => {}, 'msg_race_sent');
    const view = (await server.call('GET', '/v1/messages/msg_race_sent')).body;
    expect(view.timeline.map((e: Json) => e.status)).toEqual(['queued', 'sending', 'sent']);
    expect(mailTo('race_msg_race_sent@example.com')).toBe(1);
  });
});

describe('a dead letter of a cancelled event', () => {
  it('is cancelled with its event, and leaves the dead letters: a replay would send it', async () => {
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const accepted = await server.call('POST', '/v1/events', event('dead_cancelled', { sendAt }));
    const { eventId } = accepted.body;
    // A send of this event that gave up.
    await server.tidings.store.createMessages([
      {
        record: messageRecord({
          tenantId: 'default',
          id: 'msg_dead_cancelled',
          eventId,
          subscriberId: 'dead_cancelled',
          channel: 'email',
          workflow: 'reminder',
          status: 'dead',
          provider: 'mail',
          reason: 'retries_exhausted',
        }),
        followUp: null,
      },
    ]);
    const cancel = await server.call('DELETE', `/v1/events/${eventId}`);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ cancelledMessages: 1 });
    expect((await server.call('GET', '/v1/messages/msg_dead_cancelled')).body.status).toBe('cancelled');
    const dead = (await server.call('GET', '/v1/dead-letters')).body.items.map((m: Json) => m.messageId);
    expect(dead).not.toContain('msg_dead_cancelled');
    const replay = await server.call('POST', '/v1/dead-letters/msg_dead_cancelled/replay');
    expect(replay.status).toBe(409);
  });
});
