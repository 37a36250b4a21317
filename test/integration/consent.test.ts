import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT } from '../../src/cli/bootstrap.ts';
import { closedPort, LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import type { FakeSmtp } from '../fakes/smtp.ts';
import { type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { queuedJobs } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let setup: ServerWithMail;
let server: TestServer;
let smtp: FakeSmtp;

beforeAll(async () => {
  setup = await startServerWithMail();
  ({ server, smtp } = setup);
});

afterAll(() => setup?.close());

beforeEach(() => smtp.reset());

const twoChannels = (extra: Record<string, unknown> = {}) => ({
  channels: [
    { channel: 'in_app', template: { title: 'News {{ data.n }}' } },
    { channel: 'email', template: { subject: 'News', text: 'News {{ data.n }}' } },
  ],
  ...extra,
});

async function trigger(workflow: string, subscriberId: string, extra: Record<string, unknown> = {}) {
  const sent = await server.call('POST', '/v1/events', {
    workflow,
    to: [{ subscriberId, email: `${subscriberId}@example.com`, ...extra }],
    data: { n: 1 },
  });
  expect(sent.status).toBe(202);
  return sent.body.eventId as string;
}

/** The event's messages by channel, once every one of them has left `queued`/`sending`. */
async function settled(eventId: string, count: number): Promise<Record<string, Json>> {
  const view = await waitFor(async () => {
    const event = (await server.call('GET', `/v1/events/${eventId}`)).body;
    const done =
      event.messages?.length === count &&
      event.messages.every((m: Json) => !['queued', 'sending'].includes(m.status));
    return done ? event : null;
  }, `${count} settled messages of ${eventId}`);
  const byChannel: Record<string, Json> = {};
  for (const m of view.messages)
    byChannel[m.channel] = (await server.call('GET', `/v1/messages/${m.messageId}`)).body;
  return byChannel;
}

const patch = (subscriberId: string, body: unknown) =>
  server.call('PATCH', `/v1/subscribers/${subscriberId}/preferences`, body);

/** `HH:MM` in `timeZone`, `minutes` from now. */
function localTime(timeZone: string, minutes: number): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(Date.now() + minutes * 60_000);
}

describe('routing and consent, through the public API', () => {
  it('a marketing email opt-out: in-app arrives, email is suppressed with the reason, nothing reaches SMTP', async () => {
    expect(
      (await server.call('PUT', '/v1/workflows/promo', twoChannels({ category: 'marketing' }))).status,
    ).toBe(200);
    await server.call('PUT', '/v1/subscribers/opt_1', { email: 'opt_1@example.com' });
    expect((await patch('opt_1', { categories: { marketing: { email: false } } })).status).toBe(200);

    const messages = await settled(await trigger('promo', 'opt_1'), 2);
    expect(messages.in_app).toMatchObject({ status: 'delivered' });
    expect(messages.email).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    expect(messages.email.timeline.at(-1).detail).toMatch(/marketing/);
    // A later event of another workflow still sends email: the opt-out is per category.
    expect(
      (await server.call('PUT', '/v1/workflows/receipt', twoChannels({ category: 'billing' }))).status,
    ).toBe(200);
    const receipt = await settled(await trigger('receipt', 'opt_1'), 2);
    expect(receipt.email).toMatchObject({ status: 'sent' });
    expect(smtp.received.map((mail) => mail.envelope.to)).toEqual([['opt_1@example.com']]);
  });

  it('a workflow the subscriber disabled: every channel is suppressed, the inbox gets nothing', async () => {
    expect((await server.call('PUT', '/v1/workflows/digest-off', twoChannels())).status).toBe(200);
    await server.call('PUT', '/v1/subscribers/opt_2', {});
    expect((await patch('opt_2', { workflows: { 'digest-off': { enabled: false } } })).status).toBe(200);
    const messages = await settled(await trigger('digest-off', 'opt_2'), 2);
    expect(messages.in_app).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    expect(messages.email).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    const token = (await server.call('POST', '/v1/subscribers/opt_2/token')).body.token;
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items).toEqual([]);
    expect(smtp.received).toEqual([]);
  });

  it('transactional and security messages ignore opt-outs, which cannot be set for them', async () => {
    expect(
      (await server.call('PUT', '/v1/workflows/mfa', twoChannels({ category: 'security' }))).status,
    ).toBe(200);
    await server.call('PUT', '/v1/subscribers/opt_3', {});
    expect((await patch('opt_3', { categories: { security: { email: false } } })).status).toBe(403);
    expect((await patch('opt_3', { channels: { email: false } })).status).toBe(200);
    const messages = await settled(await trigger('mfa', 'opt_3'), 2);
    expect(messages.email).toMatchObject({ status: 'sent' });
  });

  it('a channel the subscriber cannot be reached on is suppressed with no_address, never silently skipped', async () => {
    expect((await server.call('PUT', '/v1/workflows/plain', twoChannels())).status).toBe(200);
    const sent = await server.call('POST', '/v1/events', {
      workflow: 'plain',
      to: ['no_email_1'],
      data: { n: 1 },
    });
    const messages = await settled(sent.body.eventId, 2);
    expect(messages.in_app).toMatchObject({ status: 'delivered' });
    expect(messages.email).toMatchObject({ status: 'suppressed', reason: 'no_address' });
  });

  it('a workflow default holds until the subscriber chooses: email off by default, on once opted in', async () => {
    const body = twoChannels({ defaultPreferences: { channels: { email: false } } });
    expect((await server.call('PUT', '/v1/workflows/opt-in', body)).status).toBe(200);
    const before = await settled(await trigger('opt-in', 'opt_4'), 2);
    expect(before.email).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    expect((await patch('opt_4', { channels: { email: true } })).status).toBe(200);
    const after = await settled(await trigger('opt-in', 'opt_4'), 2);
    expect(after.email).toMatchObject({ status: 'sent' });
  });

  it('quiet hours in the subscriber zone: email deferred to the window end, in-app at once; bypass sends now', async () => {
    const zone = 'Asia/Tokyo';
    expect((await server.call('PUT', '/v1/workflows/nightly', twoChannels())).status).toBe(200);
    await server.call('PUT', '/v1/subscribers/tokyo_1', { email: 'tokyo_1@example.com', timezone: zone });
    const window = { start: localTime(zone, -60), end: localTime(zone, 60) };
    expect((await patch('tokyo_1', { quietHours: window })).status).toBe(200);

    const held = await settled(await trigger('nightly', 'tokyo_1'), 2);
    expect(held.in_app).toMatchObject({ status: 'delivered' });
    expect(held.email).toMatchObject({ status: 'deferred' });
    const entry = held.email.timeline.at(-1);
    expect(entry).toMatchObject({ status: 'deferred' });
    const until = Date.parse(/until (\S+)/.exec(entry.detail)![1]!);
    // The window ends about an hour from now (the minute boundary makes it 59–60 minutes).
    expect(until - Date.now()).toBeGreaterThan(58 * 60_000);
    expect(until - Date.now()).toBeLessThanOrEqual(60 * 60_000);
    expect(entry.detail).toContain(zone);

    expect(
      (await server.call('PUT', '/v1/workflows/alarm', twoChannels({ quietHours: 'bypass' }))).status,
    ).toBe(200);
    const now = await settled(await trigger('alarm', 'tokyo_1'), 2);
    expect(now.email).toMatchObject({ status: 'sent' });
  });
});

describe('held messages follow a change of quiet hours', () => {
  const deferredEmail = async (subscriberId: string, zone: string) => {
    await server.call('PUT', `/v1/subscribers/${subscriberId}`, {
      email: `${subscriberId}@example.com`,
      timezone: zone,
    });
    const window = { start: localTime(zone, -60), end: localTime(zone, 120) };
    expect((await patch(subscriberId, { quietHours: window })).status).toBe(200);
    const held = await settled(await trigger('nightly', subscriberId), 2);
    expect(held.email).toMatchObject({ status: 'deferred' });
    return { messageId: held.email.messageId as string, window };
  };
  const status = async (messageId: string) => (await server.call('GET', `/v1/messages/${messageId}`)).body;
  const sentSoon = (messageId: string) =>
    waitFor(async () => {
      const message = await status(messageId);
      return message.status === 'sent' ? message : null;
    }, `${messageId} sent`);

  beforeAll(async () => {
    expect((await server.call('PUT', '/v1/workflows/nightly', twoChannels())).status).toBe(200);
  });

  it('quiet hours cleared: what they held is sent now, not at the old window end', async () => {
    const { messageId } = await deferredEmail('release_1', 'Asia/Tokyo');
    expect((await patch('release_1', { quietHours: null })).status).toBe(200);
    const sent = await sentSoon(messageId);
    expect(smtp.received.some((m) => m.envelope.to.includes('release_1@example.com'))).toBe(true);
    expect(sent.timeline.filter((e: Json) => e.status === 'deferred')).toHaveLength(1);
  });

  it('a move to a zone where the window is over sends now; one where it lasts longer changes nothing', async () => {
    const { messageId, window } = await deferredEmail('release_2', 'Asia/Tokyo');
    // A zone 12 hours away is far outside this window.
    const far = 'America/New_York';
    const insideThere =
      localTime(far, 0) >= window.start && (window.end < window.start || localTime(far, 0) < window.end);
    expect(insideThere).toBe(false);
    // First a change that holds as long (the same zone again): nothing is released.
    expect((await server.call('PUT', '/v1/subscribers/release_2', { timezone: 'Asia/Tokyo' })).status).toBe(
      200,
    );
    expect((await status(messageId)).status).toBe('deferred');
    expect((await server.call('PUT', '/v1/subscribers/release_2', { timezone: far })).status).toBe(200);
    const sent = await sentSoon(messageId);
    expect(sent.timeline.filter((e: Json) => e.status === 'deferred')).toHaveLength(1);
  });

  it('a bulk upsert moving the zone where the window is over sends now, as a PUT does', async () => {
    const { messageId } = await deferredEmail('release_4', 'Asia/Tokyo');
    const bulk = await server.call('POST', '/v1/subscribers/bulk', {
      subscribers: [
        { subscriberId: 'release_4', timezone: 'America/New_York' },
        { subscriberId: 'release_4b', timezone: 'America/New_York' },
      ],
    });
    expect(bulk.status).toBe(202);
    const sent = await sentSoon(messageId);
    expect(sent.timeline.filter((e: Json) => e.status === 'deferred')).toHaveLength(1);
  });

  it('a shorter window that still holds: the message is deferred again to its new end', async () => {
    const zone = 'Europe/Berlin';
    const { messageId, window } = await deferredEmail('release_3', zone);
    const shorter = { start: window.start, end: localTime(zone, 30) };
    expect((await patch('release_3', { quietHours: shorter })).status).toBe(200);
    const again = await waitFor(async () => {
      const message = await status(messageId);
      const entries = message.timeline.filter((e: Json) => e.status === 'deferred');
      return entries.length === 2 ? entries[1] : null;
    }, 'deferred again');
    const until = Date.parse(/until (\S+)/.exec(again.detail)![1]!);
    expect(until - Date.now()).toBeGreaterThan(28 * 60_000);
    expect(until - Date.now()).toBeLessThanOrEqual(30 * 60_000);
    expect((await status(messageId)).status).toBe('deferred');
  });
});

describe('held messages follow every change, and the default zone', () => {
  const status = async (messageId: string) => (await server.call('GET', `/v1/messages/${messageId}`)).body;
  const deferredEntries = (message: Json) => message.timeline.filter((e: Json) => e.status === 'deferred');

  beforeAll(async () => {
    expect((await server.call('PUT', '/v1/workflows/nightly', twoChannels())).status).toBe(200);
  });

  it('a second change within the minute of a release takes effect too: cleared hours send now', async () => {
    const zone = 'Europe/Berlin';
    await server.call('PUT', '/v1/subscribers/release_5', { email: 'release_5@example.com', timezone: zone });
    const window = { start: localTime(zone, -60), end: localTime(zone, 120) };
    expect((await patch('release_5', { quietHours: window })).status).toBe(200);
    const held = await settled(await trigger('nightly', 'release_5'), 2);
    expect(held.email).toMatchObject({ status: 'deferred' });
    const messageId = held.email.messageId as string;
    // A shorter window that still holds: released, and deferred again to its end.
    expect((await patch('release_5', { quietHours: { ...window, end: localTime(zone, 30) } })).status).toBe(
      200,
    );
    await waitFor(async () => deferredEntries(await status(messageId)).length === 2, 'deferred again');
    // Seconds later the hours are cleared: the message goes now, not at the shorter window's end.
    expect((await patch('release_5', { quietHours: null })).status).toBe(200);
    const sent = await waitFor(async () => {
      const message = await status(messageId);
      return message.status === 'sent' ? message : null;
    }, `${messageId} sent`);
    expect(deferredEntries(sent)).toHaveLength(2);
    expect(smtp.received.some((m) => m.envelope.to.includes('release_5@example.com'))).toBe(true);
  });

  it('hours toggled back and forth release at most 3 times a minute, then once at its end', async () => {
    const zone = 'Europe/Berlin';
    await server.call('PUT', '/v1/subscribers/release_6', { email: 'release_6@example.com', timezone: zone });
    const window = { start: localTime(zone, -60), end: localTime(zone, 120) };
    expect((await patch('release_6', { quietHours: window })).status).toBe(200);
    const held = await settled(await trigger('nightly', 'release_6'), 2);
    expect(held.email).toMatchObject({ status: 'deferred' });
    const messageId = held.email.messageId as string;
    const shorter = (minutes: number) => ({ ...window, end: localTime(zone, minutes) });
    // Each shortening releases the message, which the shorter window defers again (each to an end
    // of its own): one more `deferred` entry in its timeline each time, for the first three.
    for (let release = 1; release <= 3; release++) {
      expect((await patch('release_6', { quietHours: shorter(30 + release) })).status).toBe(200);
      await waitFor(
        async () => deferredEntries(await status(messageId)).length === 1 + release,
        `release ${release}`,
      );
      expect((await patch('release_6', { quietHours: window })).status).toBe(200);
    }
    // The fourth and fifth within the minute are put off to one job at its end.
    for (let more = 0; more < 2; more++) {
      expect((await patch('release_6', { quietHours: shorter(40 + more) })).status).toBe(200);
      expect((await patch('release_6', { quietHours: window })).status).toBe(200);
    }
    const putOff = (await queuedJobs(server.databaseUrl, 'release-deferred')).filter(
      (job) => job.payload.subscriberId === 'release_6',
    );
    expect(putOff).toHaveLength(1);
    expect(putOff[0]!.runAt).toBeGreaterThan(Date.now());
    expect(putOff[0]!.runAt).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(deferredEntries(await status(messageId))).toHaveLength(4);
  });

  it('a release that leaves a message held until the same instant writes and queues nothing for it', async () => {
    const zone = 'Europe/Berlin';
    await server.call('PUT', '/v1/subscribers/release_7', { email: 'release_7@example.com', timezone: zone });
    const window = { start: localTime(zone, -60), end: localTime(zone, 120) };
    expect((await patch('release_7', { quietHours: window })).status).toBe(200);
    const held = await settled(await trigger('nightly', 'release_7'), 2);
    const messageId = held.email.messageId as string;
    // The sends waiting for the message at a window's end, by the instant they wake at (not the
    // releases' own sends, due now, which may still wait for a worker).
    const wakeUps = async () =>
      (await queuedJobs(server.databaseUrl, 'send'))
        .filter((job) => job.payload.messageId === messageId && job.runAt > Date.now() + 10 * 60_000)
        .map((job) => job.runAt);
    // Each end read off the clock once: read again, a minute turning between two `shorten(30)`
    // made them two instants (a fourth wake-up).
    const ends = { 30: localTime(zone, 30), 31: localTime(zone, 31) };
    const shorten = async (minutes: 30 | 31) =>
      expect((await patch('release_7', { quietHours: { ...window, end: ends[minutes] } })).status).toBe(200);
    const lengthen = async () => expect((await patch('release_7', { quietHours: window })).status).toBe(200);
    // A release's send decides under the hours as they are when it runs: each has run before the
    // next change, or one that ran after a lengthening deferred to the long end once more.
    const releaseRan = () =>
      waitFor(
        async () =>
          (await queuedJobs(server.databaseUrl, 'send', { leased: true })).every(
            (job) => job.payload.messageId !== messageId || job.runAt > Date.now() + 10 * 60_000,
          ),
        'the release’s send ran',
      );
    await shorten(30); // released, held again until the shorter end: a second wake-up
    await releaseRan();
    await waitFor(async () => (await wakeUps()).length === 2, 'a wake-up at the shorter end');
    await lengthen();
    await shorten(30); // released again: held until that same instant, which already has its send
    await releaseRan();
    await lengthen();
    await shorten(31); // a third end
    await releaseRan();
    await waitFor(async () => new Set(await wakeUps()).size === 3, 'a wake-up at the third end');
    expect(await wakeUps()).toHaveLength(3);
    expect(deferredEntries(await status(messageId))).toHaveLength(3);
  });

  it("a change of the tenant's defaultTimezone that ends the window sends what it held from subscribers without a zone", async () => {
    const store = server.tidings.store;
    // Set where the test starts (not through the API, whose change would be followed too).
    await store.patchTenantSettings(DEFAULT_TENANT, { defaultTimezone: 'Asia/Tokyo' }, Date.now());
    try {
      const window = { start: localTime('Asia/Tokyo', -60), end: localTime('Asia/Tokyo', 120) };
      const far = 'America/New_York';
      const insideThere =
        localTime(far, 0) >= window.start && (window.end < window.start || localTime(far, 0) < window.end);
      expect(insideThere).toBe(false);
      const held: Record<string, string> = {};
      for (const id of ['zoneless_1', 'zoned_1']) {
        // zoned_1 keeps quiet hours in a zone of their own, which the default does not move.
        const profile = id === 'zoned_1' ? { timezone: 'Asia/Tokyo' } : {};
        await server.call('PUT', `/v1/subscribers/${id}`, { email: `${id}@example.com`, ...profile });
        expect((await patch(id, { quietHours: window })).status).toBe(200);
        const messages = await settled(await trigger('nightly', id), 2);
        expect(messages.email).toMatchObject({ status: 'deferred' });
        held[id] = messages.email.messageId;
      }

      const changed = await server.call('PATCH', '/v1/settings', { defaultTimezone: far });
      expect(changed.status).toBe(200);
      const sent = await waitFor(async () => {
        const message = await status(held.zoneless_1!);
        return message.status === 'sent' ? message : null;
      }, 'the zoneless subscriber’s email sent');
      expect(deferredEntries(sent)).toHaveLength(1);
      expect(smtp.received.some((m) => m.envelope.to.includes('zoneless_1@example.com'))).toBe(true);
      expect((await status(held.zoned_1!)).status).toBe('deferred');
    } finally {
      await store.patchTenantSettings(DEFAULT_TENANT, { defaultTimezone: 'UTC' }, Date.now());
    }
  });
});

describe('consent is re-checked right before a send', () => {
  it('an opt-out made while a send waits for its retry suppresses it', async () => {
    const other = await startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS });
    try {
      await other.call('PUT', '/v1/integrations/mail', {
        channel: 'email',
        provider: 'smtp',
        config: { host: '127.0.0.1', port: await closedPort(), from: 'Acme <noreply@acme.example>' },
      });
      await other.call('PUT', '/v1/workflows/news', {
        category: 'marketing',
        channels: [{ channel: 'email', template: { subject: 'News', text: 'News' } }],
      });
      const sent = await other.call('POST', '/v1/events', {
        workflow: 'news',
        to: [{ subscriberId: 'late_1', email: 'late_1@example.com' }],
      });
      const messageId = await waitFor(async () => {
        const message = (await other.call('GET', `/v1/events/${sent.body.eventId}`)).body.messages?.[0];
        return message?.timeline.some((t: Json) => t.detail?.includes('retry in'))
          ? (message.messageId as string)
          : null;
      }, 'a send waiting for its retry');
      expect(
        (await other.call('PATCH', '/v1/subscribers/late_1/preferences', { channels: { email: false } }))
          .status,
      ).toBe(200);
      const message = await waitFor(async () => {
        const view = (await other.call('GET', `/v1/messages/${messageId}`)).body;
        return view.status === 'suppressed' ? view : null;
      }, 'the waiting send to be suppressed');
      expect(message.reason).toBe('opted_out');
    } finally {
      await other.close();
    }
  });
});
