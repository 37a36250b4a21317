import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTidings } from '../../src/cli/runtime.ts';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { POSTGRES_TEST_SECRET } from '../helpers/child.ts';
import { startTestServer, TEST_KEY, type TestServer } from '../helpers/server.ts';
import { STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// Personal data rights through the public API (API.md "Subscribers…"): consent log, export,
// erasure. Retention has a server of its own below (a short TIDINGS_RETENTION).

let server: TestServer;
const FCM_TOKEN = `fcm-token-${'x'.repeat(120)}-tail`;

beforeAll(async () => {
  server = await startTestServer();
  for (const [key, channels] of [
    [
      'welcome',
      [
        { channel: 'in_app', template: { title: 'Hi {{ subscriber.email }}', body: 'b {{ data.n }}' } },
        { channel: 'email', template: { subject: 'Hello {{ data.n }}', text: 'Text {{ data.secret }}' } },
      ],
    ],
    ['feed', [{ channel: 'in_app', template: { title: 'Item {{ data.n }}' } }]],
  ] as const) {
    expect((await server.call('PUT', `/v1/workflows/${key}`, { channels })).status).toBe(200);
  }
  expect((await server.call('PUT', '/v1/topics/news', { name: 'News' })).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

async function trigger(workflow: string, subscriberId: string, data: Record<string, unknown> = {}) {
  const sent = await server.call('POST', '/v1/events', { workflow, to: [subscriberId], data });
  expect(sent.status).toBe(202);
  return sent.body.eventId as string;
}

/** The event's messages once each has left `queued` and `sending`. */
async function settled(eventId: string, count: number) {
  return waitFor(async () => {
    const event = (await server.call('GET', `/v1/events/${eventId}`)).body;
    const messages = event.messages ?? [];
    return messages.length === count &&
      messages.every((m: { status: string }) => m.status !== 'queued' && m.status !== 'sending')
      ? messages
      : null;
  }, `${count} settled messages of ${eventId}`);
}

/** Sends `count` feed items to one subscriber through bulk requests; answers when all are in the inbox. */
async function fillInbox(subscriberId: string, count: number, target: TestServer = server) {
  for (let sent = 0; sent < count; sent += 1000) {
    const events = Array.from({ length: Math.min(1000, count - sent) }, (_, i) => ({
      workflow: 'feed',
      to: [subscriberId],
      data: { n: sent + i },
    }));
    expect((await target.call('POST', '/v1/events/bulk', { events })).status).toBe(202);
  }
  const token = (await target.call('POST', `/v1/subscribers/${subscriberId}/token`, {})).body.token;
  await waitFor(
    async () =>
      (await target.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count === count,
    `${count} inbox items for ${subscriberId}`,
    60_000,
    100,
  );
}

describe('consent log', () => {
  it('records each preference change made through the API once, oldest first; 404 for an unknown subscriber', async () => {
    const patch = (body: unknown) => server.call('PATCH', '/v1/subscribers/cl_ann/preferences', body);
    expect((await patch({ channels: { sms: false } })).status).toBe(200);
    // The same choice again changes nothing, and logs nothing.
    expect((await patch({ channels: { sms: false } })).status).toBe(200);
    expect((await patch({ categories: { marketing: { email: false } } })).status).toBe(200);
    // A refused PATCH (a mandatory category) is not a change either.
    expect((await patch({ categories: { security: { email: false } } })).status).toBe(403);

    const log = await server.call('GET', '/v1/subscribers/cl_ann/consent-log');
    // Every list's shape (API.md), one page.
    expect(log.body.nextCursor).toBeNull();
    expect(log.status).toBe(200);
    expect(log.body.items).toHaveLength(2);
    const [first, second] = log.body.items;
    expect(first).toEqual({
      at: expect.any(String),
      change: { preferences: { channels: { sms: false } } },
      source: 'api',
      detail: expect.any(String),
    });
    expect(second.change).toEqual({ preferences: { categories: { marketing: { email: false } } } });
    expect(Date.parse(second.at)).toBeGreaterThanOrEqual(Date.parse(first.at));

    const unknown = await server.call('GET', '/v1/subscribers/cl_nobody/consent-log');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
  });
});

describe('export', () => {
  it('answers one JSON document with the profile, preferences, masked devices, topics, consent log and messages with content', async () => {
    const id = 'ex_bea';
    await server.call('PUT', `/v1/subscribers/${id}`, { email: 'bea@example.com', data: { plan: 'pro' } });
    expect(
      (await server.call('PUT', `/v1/subscribers/${id}/devices/pixel`, { platform: 'fcm', token: FCM_TOKEN }))
        .status,
    ).toBe(200);
    await server.call('POST', '/v1/topics/news/subscribers', { subscriberIds: [id] });
    await server.call('PATCH', `/v1/subscribers/${id}/preferences`, { channels: { sms: false } });
    await settled(await trigger('welcome', id, { n: 7, secret: 's3' }), 2);

    const answer = await server.call('GET', `/v1/subscribers/${id}/export`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const doc = answer.body;
    expect(doc.subscriber).toMatchObject({
      subscriberId: id,
      email: 'bea@example.com',
      data: { plan: 'pro' },
    });
    // API.md names the part "profile": the same view under that name.
    expect(doc.profile).toEqual(doc.subscriber);
    expect(doc.preferences.channels).toEqual({ sms: false });
    expect(doc.devices).toEqual([expect.objectContaining({ deviceId: 'pixel', platform: 'fcm' })]);
    expect(JSON.stringify(doc)).not.toContain(FCM_TOKEN);
    expect(doc.topics).toEqual(['news']);
    expect(doc.consentLog).toEqual([expect.objectContaining({ source: 'api' })]);
    expect(doc.messages).toHaveLength(2);
    const email = doc.messages.find((m: { channel: string }) => m.channel === 'email');
    expect(email.content).toMatchObject({ subject: 'Hello 7', text: 'Text s3' });
    expect(email.data).toEqual({ n: 7, secret: 's3' });
    expect(email.timeline.length).toBeGreaterThan(1);
    // Each message as GET /v1/messages/{id} shows it, the workflow version it rendered with included.
    for (const message of doc.messages) {
      const { content, meta, timeline, ...view } = (
        await server.call('GET', `/v1/messages/${message.messageId}`)
      ).body;
      expect(view.workflowVersion).toBe(1);
      expect(message).toMatchObject(view);
    }

    expect((await server.call('GET', '/v1/subscribers/ex_nobody/export')).status).toBe(404);
  });

  it("shows each in-app message's inbox state: when it was seen, read, archived, and snoozed until", async () => {
    const id = 'ex_ines';
    const [first, second] = [await trigger('feed', id, { n: 1 }), await trigger('feed', id, { n: 2 })];
    await settled(first, 1);
    await settled(second, 1);
    const token = (await server.call('POST', `/v1/subscribers/${id}/token`, {})).body.token;
    const auth = { auth: token };
    const items = (await server.call('GET', '/v1/inbox', undefined, auth)).body.items as { id: string }[];
    expect(items).toHaveLength(2);
    const [newer, older] = [items[0]!.id, items[1]!.id];
    expect((await server.call('POST', '/v1/inbox/seen-all', undefined, auth)).status).toBe(200);
    expect((await server.call('POST', `/v1/inbox/${older}/archive`, undefined, auth)).status).toBe(200);
    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect((await server.call('POST', `/v1/inbox/${newer}/snooze`, { until }, auth)).status).toBe(200);

    const doc = (await server.call('GET', `/v1/subscribers/${id}/export`)).body;
    const inbox = (messageId: string) =>
      doc.messages.find((m: { messageId: string }) => m.messageId === messageId).inbox;
    expect(inbox(older)).toEqual({
      seenAt: expect.any(String),
      readAt: expect.any(String),
      archivedAt: expect.any(String),
      snoozedUntil: null,
    });
    expect(inbox(newer)).toEqual({
      seenAt: expect.any(String),
      readAt: null,
      archivedAt: null,
      snoozedUntil: until,
    });
  });

  it('lists what is held about them that is no message yet: events in an open digest and events due later, past a page of each', async () => {
    const id = 'ex_pend';
    const digest = {
      channels: [{ channel: 'in_app', template: { title: '{{ count }} new' } }],
      digest: { window: '10m', key: '{{ data.thread }}' },
    };
    expect((await server.call('PUT', '/v1/workflows/ex_digest', digest)).status).toBe(200);
    await server.call('PUT', `/v1/subscribers/${id}`, { email: 'pend@example.com' });
    const view = async (eventId: string) => (await server.call('GET', `/v1/events/${eventId}`)).body;
    // More events in the digest than one page of the export (200).
    const gathered = Array.from({ length: 205 }, (_, i) => ({
      workflow: 'ex_digest',
      to: [id],
      data: { thread: 't1', digestsecret: `d${i}` },
    }));
    const joined = await server.call('POST', '/v1/events/bulk', { events: gathered });
    expect(joined.status).toBe(202);
    const joinedIds = joined.body.results.map((r: { eventId: string }) => r.eventId) as string[];
    await waitFor(
      async () => (await view(joinedIds.at(-1)!)).skipped?.length === 1,
      'the last digest join',
      20_000,
      50,
    );
    // More of the tenant's jobs waiting than one page, each due sooner than theirs: another
    // subscriber's events, each due at its own time (so a job of its own).
    const inAnHour = Date.now() + 3_600_000;
    const others = Array.from({ length: 210 }, (_, i) => ({
      workflow: 'welcome',
      to: ['ex_pend_other'],
      data: { n: i, secret: 'not-theirs' },
      sendAt: new Date(inAnHour - 60_000 + i).toISOString(),
    }));
    expect((await server.call('POST', '/v1/events/bulk', { events: others })).status).toBe(202);
    const sendAt = new Date(inAnHour).toISOString();
    const later = await server.call('POST', '/v1/events', {
      workflow: 'welcome',
      to: ['ex_pend_other', id],
      data: { n: 1, secret: 'latersecret' },
      sendAt,
    });
    expect(later.status).toBe(202);

    const answer = await server.call('GET', `/v1/subscribers/${id}/export`);
    expect(answer.status).toBe(200);
    const doc = answer.body;
    expect(doc.messages).toEqual([]);
    const pending = doc.pending as { eventId: string; reason: string }[];
    const digested = pending.filter((p) => p.reason === 'digest');
    expect(digested.map((p) => p.eventId).sort()).toEqual([...joinedIds].sort());
    expect(digested.find((p) => p.eventId === joinedIds[0])).toEqual({
      eventId: joinedIds[0],
      workflow: 'ex_digest',
      createdAt: expect.any(String),
      data: { thread: 't1', digestsecret: 'd0' },
      reason: 'digest',
      digest: { openedAt: expect.any(String), closesAt: expect.any(String) },
    });
    const { openedAt, closesAt } = (
      digested[0] as unknown as { digest: { openedAt: string; closesAt: string } }
    ).digest;
    expect(Date.parse(closesAt) - Date.parse(openedAt)).toBe(600_000);
    expect(pending.filter((p) => p.reason === 'scheduled')).toEqual([
      {
        eventId: later.body.eventId,
        workflow: 'welcome',
        createdAt: expect.any(String),
        data: { n: 1, secret: 'latersecret' },
        sendAt,
        reason: 'scheduled',
        dueAt: sendAt,
      },
    ]);
    expect(pending).toHaveLength(206);
    // Nobody else's.
    expect(JSON.stringify(doc)).not.toContain('not-theirs');
    expect(
      (await server.call('GET', '/v1/subscribers/ex_pend_other/export')).body.pending.map(
        (p: { eventId: string }) => p.eventId,
      ),
    ).toHaveLength(211);
  });

  it('streams every message of a subscriber with more than a page of them', async () => {
    await fillInbox('ex_many', 250);
    const doc = (await server.call('GET', '/v1/subscribers/ex_many/export')).body;
    expect(doc.messages).toHaveLength(250);
    expect(new Set(doc.messages.map((m: { messageId: string }) => m.messageId)).size).toBe(250);
  });
});

describe('erasure', () => {
  it('DELETE answers 202; the profile, devices, preferences, topics and inbox are gone, messages keep statuses only, unsent ones are cancelled', async () => {
    const id = 'er_cal';
    // An event for them and someone else, with an inline address: only their entry goes.
    const shared = await server.call('POST', '/v1/events', {
      workflow: 'feed',
      to: [{ subscriberId: id, email: 'cal@example.com' }, 'er_dee'],
      data: { n: 0 },
    });
    await settled(shared.body.eventId, 2);
    await server.call('PUT', `/v1/subscribers/${id}`, {
      email: 'cal@example.com',
      timezone: 'UTC',
      data: { dob: '1990-01-01' },
    });
    await server.call('PUT', `/v1/subscribers/${id}/devices/pixel`, { platform: 'fcm', token: FCM_TOKEN });
    await server.call('POST', '/v1/topics/news/subscribers', { subscriberIds: [id] });
    const token = (await server.call('POST', `/v1/subscribers/${id}/token`, {})).body.token;
    const firstEvent = await trigger('welcome', id, { n: 1, secret: 'first' });
    const sent = await settled(firstEvent, 2);
    // Quiet hours around now: the next email waits (deferred) and must never leave.
    const hhmm = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString().slice(11, 16);
    await server.call('PATCH', `/v1/subscribers/${id}/preferences`, {
      quietHours: { start: hhmm(-60), end: hhmm(60) },
    });
    const held = await settled(await trigger('welcome', id, { n: 2, secret: 'second' }), 2);
    expect(held.find((m: { channel: string }) => m.channel === 'email').status).toBe('deferred');
    const captured = (await server.call('GET', '/v1/sandbox/messages?limit=200')).body.items;
    expect(captured.some((c: { to: string }) => c.to === 'cal@example.com')).toBe(true);

    const erased = await server.call('DELETE', `/v1/subscribers/${id}`);
    expect(erased.status).toBe(202);

    for (const path of [
      `/v1/subscribers/${id}`,
      `/v1/subscribers/${id}/preferences`,
      `/v1/subscribers/${id}/devices`,
      `/v1/subscribers/${id}/export`,
      `/v1/subscribers/${id}/consent-log`,
    ]) {
      const read = await server.call('GET', path);
      expect([path, read.status]).toEqual([path, 404]);
    }
    // Tokens minted before the erasure open nothing.
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).status).toBe(404);
    expect((await server.call('GET', `/v1/topics/news`)).body.subscriberCount).not.toBeUndefined();
    expect((await server.call('GET', `/v1/messages?subscriberId=${id}`)).body.items).toEqual([]);

    for (const message of [...sent, ...held]) {
      const read = await server.call('GET', `/v1/messages/${message.messageId}`);
      expect(read.status).toBe(200);
      expect(read.body.content).toEqual({});
      expect(read.body.meta).toEqual({});
      expect(read.body.lastError).toBeNull();
      expect(read.body.subscriberId).not.toBe(id);
      expect(read.body.subscriberId).toMatch(/^erased:/);
      for (const entry of read.body.timeline) expect(Object.keys(entry).sort()).toEqual(['at', 'status']);
      expect(read.body.timeline.at(-1).status).toBe('erased');
      expect(JSON.stringify(read.body)).not.toMatch(/cal@example\.com|first|second/);
    }
    const deferred = held.find((m: { channel: string }) => m.channel === 'email');
    const cancelled = (await server.call('GET', `/v1/messages/${deferred.messageId}`)).body;
    expect(cancelled.status).toBe('cancelled');
    // Statuses stay: the delivered one is still delivered.
    const first = sent.find((m: { channel: string }) => m.channel === 'email');
    expect((await server.call('GET', `/v1/messages/${first.messageId}`)).body.status).toBe(first.status);
    // The events' payloads no longer hold them: their entry in `to` is the erased id, and the
    // data of an event that was theirs alone is gone.
    const own = (await server.call('GET', `/v1/events/${firstEvent}`)).body;
    expect(JSON.stringify(own)).not.toMatch(/cal@example\.com|"first"/);
    expect(own.to).toEqual([{ subscriberId: expect.stringMatching(/^erased:/) }]);
    expect(own.data).toEqual({});
    const both = (await server.call('GET', `/v1/events/${shared.body.eventId}`)).body;
    expect(both.to).toEqual([{ subscriberId: expect.stringMatching(/^erased:/) }, 'er_dee']);
    expect(both.data).toEqual({ n: 0 });
    const after = (await server.call('GET', '/v1/sandbox/messages?limit=200')).body.items;
    expect(after.some((c: { to: string }) => c.to === 'cal@example.com')).toBe(false);

    // Once erased there is no such subscriber: again, or for an id never seen, 404.
    const again = await server.call('DELETE', `/v1/subscribers/${id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('not_found');
    expect((await server.call('DELETE', '/v1/subscribers/er_never_seen')).status).toBe(404);

    // A token (or an event) for the id afterwards starts a new, empty subscriber.
    const fresh = await server.call('POST', `/v1/subscribers/${id}/token`, {});
    expect(fresh.status).toBe(200);
    const profile = (await server.call('GET', `/v1/subscribers/${id}`)).body;
    expect(profile).toMatchObject({ subscriberId: id, email: null, data: {} });
    expect((await server.call('GET', `/v1/subscribers/${id}/devices`)).body.items).toEqual([]);
    expect((await server.call('GET', `/v1/subscribers/${id}/consent-log`)).body.items).toEqual([]);
    const inbox = await server.call('GET', '/v1/inbox', undefined, { auth: fresh.body.token });
    expect(inbox.status).toBe(200);
    expect(inbox.body.items).toEqual([]);
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).status).toBe(404);
  });

  it('erases what still waits for them: an event due later and an open digest window', async () => {
    const id = 'er_wait';
    const digested = {
      channels: [{ channel: 'in_app', template: { title: '{{ count }} new' } }],
      digest: { window: '10m', key: '{{ data.thread }}' },
    };
    expect((await server.call('PUT', '/v1/workflows/digested', digested)).status).toBe(200);
    await server.call('PUT', `/v1/subscribers/${id}`, { email: 'wait@example.com' });
    const joined = await trigger('digested', id, { thread: 'thread-secret', secret: 'joined-secret' });
    const view = async (eventId: string) => (await server.call('GET', `/v1/events/${eventId}`)).body;
    await waitFor(async () => (await view(joined)).skipped?.length === 1, 'the digest join');
    const later = await server.call('POST', '/v1/events', {
      workflow: 'welcome',
      to: [id],
      data: { n: 3, secret: 'later-secret' },
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(later.status).toBe(202);

    expect((await server.call('DELETE', `/v1/subscribers/${id}`)).status).toBe(202);
    for (const eventId of [joined, later.body.eventId]) {
      const scrubbed = await waitFor(async () => {
        const event = await view(eventId);
        return JSON.stringify(event).includes(id) ? null : event;
      }, `${eventId} without the erased subscriber`);
      expect(JSON.stringify(scrubbed)).not.toMatch(/secret|wait@example\.com/);
      expect(scrubbed.to).toEqual([{ subscriberId: expect.stringMatching(/^erased:/) }]);
      for (const step of scrubbed.skipped) expect(step.subscriberId).toMatch(/^erased:/);
    }
  });

  it('names them by the erased id in the events they were the actor of, more than a batch of them too', async () => {
    const id = 'er_actor';
    await server.call('PUT', `/v1/subscribers/${id}`, { email: 'actor@example.com' });
    const view = async (eventId: string) => (await server.call('GET', `/v1/events/${eventId}`)).body;
    // One sent now, one due in an hour, and more than an erasure batch (100) sent in bulk.
    const now = await server.call('POST', '/v1/events', {
      workflow: 'feed',
      to: ['er_actor_reader'],
      actor: id,
      data: { n: 1 },
    });
    const later = await server.call('POST', '/v1/events', {
      workflow: 'feed',
      to: ['er_actor_reader'],
      actor: id,
      data: { n: 2 },
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const events = Array.from({ length: 150 }, (_, i) => ({
      workflow: 'feed',
      to: ['er_actor_reader'],
      actor: id,
      data: { n: 10 + i },
    }));
    const bulk = await server.call('POST', '/v1/events/bulk', { events });
    expect(bulk.status).toBe(202);
    const ids = [
      now.body.eventId,
      later.body.eventId,
      ...bulk.body.results.map((r: { eventId: string }) => r.eventId),
    ] as string[];
    expect((await view(now.body.eventId)).actor).toBe(id);
    // Another actor's event is not theirs.
    const other = await server.call('POST', '/v1/events', {
      workflow: 'feed',
      to: ['er_actor_reader'],
      actor: 'er_actor_other',
      data: { n: 0 },
    });

    expect((await server.call('DELETE', `/v1/subscribers/${id}`)).status).toBe(202);
    await waitFor(
      async () => (await view(ids.at(-1)!)).actor !== id,
      'the last of their events rewritten',
      20_000,
      50,
    );
    let erasedId: string | undefined;
    for (const eventId of ids) {
      const event = await view(eventId);
      expect(event.actor).toMatch(/^erased:[A-Za-z0-9_-]{32}$/);
      erasedId ??= event.actor;
      expect(event.actor).toBe(erasedId);
      // The recipient's event keeps what was for them.
      expect(event.to).toEqual(['er_actor_reader']);
      expect(event.data.n).toEqual(expect.any(Number));
    }
    expect((await view(other.body.eventId)).actor).toBe('er_actor_other');
    // An event after the erasure names whoever holds the id now, as sent.
    const after = await server.call('POST', '/v1/events', {
      workflow: 'feed',
      to: ['er_actor_reader'],
      actor: id,
      data: { n: 3 },
    });
    expect((await view(after.body.eventId)).actor).toBe(id);
  });

  it('erases a subscriber with more messages than one batch through the durable job', async () => {
    const id = 'er_many';
    await fillInbox(id, 250);
    const before = (await server.call('GET', `/v1/messages?subscriberId=${id}&limit=1`)).body.items[0];
    expect((await server.call('DELETE', `/v1/subscribers/${id}`)).status).toBe(202);
    await waitFor(
      async () =>
        (await server.call('GET', `/v1/messages?subscriberId=${id}&limit=1`)).body.items.length === 0,
      'every message erased',
      30_000,
      50,
    );
    const read = (await server.call('GET', `/v1/messages/${before.messageId}`)).body;
    expect(read).toMatchObject({ content: {}, status: before.status });
    expect(read.subscriberId).toMatch(/^erased:/);
  });
});

/** Another Tidings on the same database as `base` (an API without workers, or workers). */
async function startOn(base: TestServer, roles: ('api' | 'worker')[]) {
  const config = loadConfig({
    TIDINGS_DATABASE_URL: base.databaseUrl,
    TIDINGS_DATA_DIR: base.dataDir,
    TIDINGS_PORT: '0',
    TIDINGS_API_KEY: TEST_KEY,
    // Workers on this thread: a worker thread would load the sources again (seconds under test).
    TIDINGS_WORKER_THREADS: '0',
    TIDINGS_LOG_LEVEL: 'silent',
    ...(STORE_UNDER_TEST === 'postgres' ? { TIDINGS_SECRET: POSTGRES_TEST_SECRET } : {}),
  });
  return startTidings(config, silentLogger(), roles);
}

describe('erasure across a restart', () => {
  it('an erasure accepted (202) goes on when the workers start again', async () => {
    const first = await startTestServer({ TIDINGS_WORKER_THREADS: '0' });
    const api = { tidings: null as Awaited<ReturnType<typeof startTidings>> | null };
    try {
      expect(
        (
          await first.call('PUT', '/v1/workflows/feed', {
            channels: [{ channel: 'in_app', template: { title: 'Item {{ data.n }}' } }],
          })
        ).status,
      ).toBe(200);
      await fillInbox('rs_1', 300, first);
      await first.tidings.close();

      // Only an API: the 202 erases the first batch, and the job waits in the queue.
      api.tidings = await startOn(first, ['api']);
      const call = (method: string, route: string) =>
        fetch(`${api.tidings!.url}${route}`, { method, headers: { authorization: `Bearer ${TEST_KEY}` } });
      expect((await call('DELETE', '/v1/subscribers/rs_1')).status).toBe(202);
      expect((await call('GET', '/v1/subscribers/rs_1')).status).toBe(404);
      const left = (await (await call('GET', '/v1/messages?subscriberId=rs_1&limit=200')).json()) as {
        items: unknown[];
      };
      // More than the first batch (100) remain.
      expect(left.items.length).toBe(200);
      await api.tidings.close();

      // Workers again: the queued job erases the rest.
      api.tidings = await startOn(first, ['api', 'worker']);
      await waitFor(
        async () =>
          (
            (await (await call('GET', '/v1/messages?subscriberId=rs_1&limit=1')).json()) as {
              items: unknown[];
            }
          ).items.length === 0,
        'the rest erased',
        30_000,
        50,
      );
    } finally {
      await api.tidings?.close();
    }
  });
});

describe('retention', () => {
  it('deletes events, messages and sandbox captures older than TIDINGS_RETENTION', async () => {
    const short = await startTestServer({
      TIDINGS_RETENTION: '2s',
      TIDINGS_LOG_LEVEL: 'silent',
      TIDINGS_WORKER_THREADS: '0',
    });
    try {
      const put = await short.call('PUT', '/v1/workflows/w', {
        channels: [{ channel: 'email', template: { subject: 's', text: 't' } }],
      });
      expect(put.status).toBe(200);
      const sent = await short.call('POST', '/v1/events', {
        workflow: 'w',
        to: [{ subscriberId: 'rt_1', email: 'rt_1@example.com' }],
      });
      const eventId = sent.body.eventId;
      const message = await waitFor(async () => {
        const first = (await short.call('GET', `/v1/events/${eventId}`)).body.messages?.[0];
        return first?.status === 'sent' ? first : null;
      }, 'the email sent');
      expect((await short.call('GET', '/v1/sandbox/messages')).body.items).toHaveLength(1);

      await waitFor(
        async () => (await short.call('GET', `/v1/events/${eventId}`)).status === 404,
        'the event deleted',
        15_000,
        100,
      );
      // Each row expires by its own time: the message and its capture were made after the event,
      // so a sweep may take the event and leave them for the next one.
      await waitFor(
        async () => (await short.call('GET', `/v1/messages/${message.messageId}`)).status === 404,
        'the message deleted',
        15_000,
        100,
      );
      await waitFor(
        async () => (await short.call('GET', '/v1/sandbox/messages')).body.items.length === 0,
        'the sandbox capture deleted',
        15_000,
        100,
      );
      // The subscriber is not event data: it stays until erased.
      expect((await short.call('GET', '/v1/subscribers/rt_1')).status).toBe(200);
    } finally {
      await short.close();
    }
  });
});
