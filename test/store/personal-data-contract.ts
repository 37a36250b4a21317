import { expect, it } from 'vitest';
import { dailyCapScope } from '../../src/policy/daily-cap.ts';
import { idFloor } from '../../src/shared/ids.ts';
import type { EventInput, MessageRecord } from '../../src/shared/model.ts';
import type { ErasureRequest, JobSpec, Store } from '../../src/store/port.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { waitFor } from '../helpers/wait.ts';

// The personal data part of the store contract (consent log, erasure, retention); called by
// runStoreContract with the store under test.

const T = 'ten_a';
const OTHER = 'ten_b';

/**
 * An event to accept (Store.acceptEvents) of workflow `w` with its first fanout job: `subscriberIds`
 * are the plain ids `to` names (created with the event).
 */
function acceptedEvent(
  id: string,
  input: Omit<EventInput, 'workflow'>,
  { tenantId = T, now = 1000, runAt = null as number | null, subscriberIds = [] as string[] } = {},
) {
  return {
    tenantId,
    id,
    input: { workflow: 'w', ...input } as EventInput,
    idempotencyKey: null,
    payloadHash: null,
    now,
    inlineSubscribers: [],
    subscriberIds,
    job: { kind: 'fanout' as const, runAt },
  };
}

/** A digest join (createMessages' `joins`) of workflow `w`, opened at 1000 for a minute. */
function digestJoin(subscriberId: string, eventId: string, digestId: string, key: string, tenantId = T) {
  return {
    tenantId,
    workflow: 'w',
    subscriberId,
    key,
    eventId,
    digestId,
    now: 1000,
    windowMs: 60_000,
    job: { kind: 'digest', lane: 'high' as const },
    steps: [{ step: 0, channel: 'email' as const }],
  };
}

/** A message id made at `ms` (ids sort by creation time, as newId's do). */
const msgId = (ms: number, n: number) => `${idFloor('msg', ms)}${String(n).padStart(16, '0')}`;

function message(over: Partial<MessageRecord> & { id: string }): MessageRecord {
  return messageRecord({
    tenantId: T,
    channel: 'email',
    status: 'sent',
    provider: 'sandbox',
    content: { subject: 'Secret', text: 'ada@example.com' },
    data: { secret: 1 },
    meta: { to: 'x' },
    timeline: [{ at: '2026-01-01T00:00:00.000Z', status: 'sent', detail: 'to ada@example.com' }],
    lastError: 'ada@example.com said no',
    ...over,
  });
}

const eraseJob: JobSpec = { tenantId: T, kind: 'erase-subscriber', lane: 'bulk', payload: { go: 'on' } };
/** u1's erasure, messages two at a time, of those made up to 5000. */
const erasureOfU1: ErasureRequest = {
  tenantId: T,
  subscriberId: 'u1',
  erasedId: 'erased:h',
  before: 5000,
  now: 5000,
  batch: 2,
};

export function personalDataContract(current: () => Store): void {
  it('logs a preference change with its source only when the stored choices change', async () => {
    const store = current();
    const note = { source: 'api' as const, detail: 'PATCH' };
    await store.patchPreferences(T, 'u1', { channels: { sms: false } }, 10, note);
    await store.patchPreferences(T, 'u1', { channels: { sms: false } }, 11, note);
    await store.patchPreferences(T, 'u1', { channels: { email: false } }, 12);
    await store.patchPreferences(T, 'u1', { channels: { sms: true } }, 13, {
      source: 'sms_stop',
      detail: null,
    });
    const log = await store.listConsentLog(T, 'u1', 0, 10);
    expect(log.map(({ at, change, source, detail }) => ({ at, change, source, detail }))).toEqual([
      { at: 10, change: { preferences: { channels: { sms: false } } }, source: 'api', detail: 'PATCH' },
      { at: 13, change: { preferences: { channels: { sms: true } } }, source: 'sms_stop', detail: null },
    ]);
    expect(await store.listConsentLog(T, 'u1', log[0]!.id, 10)).toHaveLength(1);
    expect(await store.listConsentLog(OTHER, 'u1', 0, 10)).toEqual([]);
  });

  it('logs a new suppression or a lift for the subscribers named that exist, once', async () => {
    const store = current();
    await store.upsertSubscriber(T, 'u1', { phone: '+15550000001' }, 1);
    const entry = {
      tenantId: T,
      channel: 'sms' as const,
      addressHash: 'h1',
      reason: 'sms_stop' as const,
      detail: 'STOP',
      createdAt: 5,
    };
    const note = { source: 'sms_stop' as const, detail: 'STOP', subscriberIds: ['u1', 'ghost'] };
    expect(await store.suppressAddress(entry, note)).toBe(true);
    expect(await store.suppressAddress(entry, note)).toBe(false);
    expect(await store.liftSuppression(T, 'sms', 'h1', 'sms_stop', { ...note, detail: 'START' })).toBe(true);
    const log = await store.listConsentLog(T, 'u1', 0, 10);
    expect(log.map((e) => e.change)).toEqual([
      { suppressed: { channel: 'sms', reason: 'sms_stop' } },
      { unsuppressed: { channel: 'sms', reason: 'sms_stop' } },
    ]);
    // Dated as the suppression is (the STOP's preference entry carries the same time), not later.
    expect(log[0]!.at).toBe(5);
    expect(await store.listConsentLog(T, 'ghost', 0, 10)).toEqual([]);
    expect(await store.getSubscriber(T, 'ghost')).toBeNull();
  });

  it('erases a subscriber: profile and what hangs on it go, messages keep ids and statuses only, in batches', async () => {
    const store = current();
    await store.upsertSubscriber(T, 'u1', { email: 'ada@example.com' }, 1);
    await store.upsertSubscriber(T, 'u2', { email: 'bob@example.com' }, 1);
    await store.patchPreferences(T, 'u1', { channels: { sms: false } }, 2, { source: 'api', detail: 'x' });
    await store.upsertTopic(T, 'news', null, 1);
    await store.addTopicMembers(T, 'news', ['u1', 'u2'], 1);
    await store.upsertDevice(
      { tenantId: T, subscriberId: 'u1', id: 'd1', platform: 'fcm', token: 'tok', subscription: null },
      1,
      10,
    );
    expect(await store.subscriberTopics(T, 'u1')).toEqual(['news']);
    await store.acceptEvents(
      [
        {
          tenantId: T,
          id: 'evt_alone',
          input: {
            workflow: 'welcome',
            to: [{ subscriberId: 'u1', email: 'ada@example.com' }],
            data: { a: 1 },
          },
          idempotencyKey: null,
          payloadHash: null,
          now: 1000,
          inlineSubscribers: [],
          subscriberIds: [],
          job: { kind: 'fanout', runAt: null },
        },
      ],
      1000,
    );
    const ids = [1, 2, 3, 4, 5].map((n) => msgId(1000, n));
    await store.createMessages([
      ...ids.map((id, i) => ({
        record: message({
          id,
          status: i === 0 ? 'queued' : 'sent',
          ...(i === 2 ? { eventId: 'evt_alone' } : {}),
        }),
        followUp: null,
      })),
      { record: message({ id: msgId(1000, 9), subscriberId: 'u2' }), followUp: null },
      // Created after the erasure began: another subscriber of the same id.
      { record: message({ id: msgId(9000, 1), createdAt: 9000 }), followUp: null },
    ]);
    await store.saveSandboxCapture({
      tenantId: T,
      id: 'cap_1',
      messageId: ids[1]!,
      channel: 'email',
      to: 'ada@example.com',
      content: { subject: 's' },
      createdAt: 1000,
    });
    const request = erasureOfU1;
    // Streams of u1 open in two processes, one of u2.
    await store.holdPresence('p1', [{ tenantId: T, subscriberId: 'u1' }], 10_000);
    await store.holdPresence(
      'p2',
      [
        { tenantId: T, subscriberId: 'u1' },
        { tenantId: T, subscriberId: 'u2' },
      ],
      10_000,
    );
    const jobsBefore = (await store.countJobs()).ready;
    await store.beginErasure(request, eraseJob);
    // No longer online, though a process that has not heard yet extends its rows.
    await store.refreshPresence('p1', 20_000);
    expect(await store.isOnline(T, 'u1', 5000)).toBe(false);
    expect(await store.isOnline(T, 'u2', 5000)).toBe(true);
    expect((await store.countJobs()).ready).toBe(jobsBefore + 1);
    expect(await store.getSubscriber(T, 'u1')).toBeNull();
    expect(await store.getPreferences(T, 'u1')).toBeNull();
    expect(await store.listDevices(T, 'u1')).toEqual([]);
    expect(await store.subscriberTopics(T, 'u1')).toEqual([]);
    expect(await store.topicMembersPage(T, 'news', null, 10)).toEqual(['u2']);
    expect(await store.listConsentLog(T, 'u1', 0, 10)).toEqual([]);

    expect(await store.eraseMessages(request)).toBe(2);
    expect(await store.eraseMessages(request)).toBe(1);
    expect(await store.eraseMessages(request)).toBe(0);
    for (const id of ids) {
      const erased = (await store.getMessage(T, id))!;
      expect(erased.subscriberId).toBe('erased:h');
      expect(erased.content).toEqual({});
      expect(erased.data).toEqual({});
      expect(erased.meta ?? {}).toEqual({});
      expect(erased.lastError).toBeNull();
      expect(JSON.stringify(erased)).not.toContain('ada@example.com');
      expect(erased.timeline.at(-1)).toEqual({ at: new Date(5000).toISOString(), status: 'erased' });
      expect(erased.timeline[0]).toEqual({ at: '2026-01-01T00:00:00.000Z', status: 'sent' });
    }
    expect((await store.getEvent(T, 'evt_alone'))!.payload).toEqual({
      workflow: 'welcome',
      to: [{ subscriberId: 'erased:h' }],
      data: {},
    });
    expect((await store.getMessage(T, ids[0]!))!.status).toBe('cancelled');
    expect((await store.getMessage(T, ids[1]!))!.status).toBe('sent');
    expect(await store.listSandboxCaptures(T, 10)).toEqual([]);
    // Others', and later ones, untouched.
    expect((await store.getMessage(T, msgId(1000, 9)))!.content).toEqual({
      subject: 'Secret',
      text: 'ada@example.com',
    });
    expect((await store.getMessage(T, msgId(9000, 1)))!.subscriberId).toBe('u1');
    // Idempotent: a second erasure finds nothing more.
    await store.beginErasure(request, eraseJob);
    expect(await store.eraseMessages(request)).toBe(0);
    expect((await store.getMessage(T, ids[1]!))!.timeline.filter((e) => e.status === 'erased')).toHaveLength(
      1,
    );
  });

  it('erases what still waits for the subscriber: open digests, skipped steps, events due later', async () => {
    const store = current();
    await store.upsertSubscriber(T, 'u1', { email: 'ada@example.com' }, 1);
    for (const tenantId of [T, OTHER]) await store.putWorkflow(tenantId, 'w', { channels: [] }, 1);
    const accepted = (id: string, to: string[], runAt: number | null, tenantId = T) =>
      acceptedEvent(id, { to, data: { about: 'ada' } }, { tenantId, runAt, subscriberIds: to });
    // Due later: its own (fanout) job, its shared ones, one with a page (deliver) naming u1 and
    // one not; another tenant's event of the same id stays as it is.
    const results = await store.acceptEvents(
      [
        accepted('evt_later', ['u1'], 90_000),
        accepted('evt_shared', ['u2', 'u1'], 90_000),
        accepted('evt_page', ['u1'], null),
        accepted('evt_others', ['u2'], null),
        accepted('evt_digest', ['u1'], null),
        accepted('evt_later', ['u1'], 90_000, OTHER),
      ],
      1000,
    );
    expect(results.every((result) => result.ok)).toBe(true);
    await store.enqueueJobs(
      ['u1', 'u2'].map((who, n) => ({
        tenantId: T,
        kind: 'deliver',
        lane: 'bulk' as const,
        payload: { eventId: n === 0 ? 'evt_page' : 'evt_others', subscriberIds: [who, 'u3'], at: 80_000 },
        runAt: 80_000,
      })),
    );
    // A fallback step and a snooze still to come for each: u1's must never fire for a new u1.
    await store.enqueueJobs(
      ['u1', 'u2'].flatMap((who) => [
        {
          tenantId: T,
          kind: 'fallback',
          lane: 'bulk' as const,
          payload: { eventId: 'evt_others', subscriberId: who, step: 1 },
          runAt: 80_000,
        },
        {
          tenantId: T,
          kind: 'inbox-wake',
          lane: 'bulk' as const,
          payload: { itemId: 'msg_x', subscriberId: who, until: 80_000 },
          runAt: 80_000,
        },
      ]),
    );
    const join = (subscriberId: string, eventId: string, digestId: string) =>
      digestJoin(subscriberId, eventId, digestId, 'thread-ada');
    await store.createMessages([], undefined, [], {
      joins: [join('u1', 'evt_digest', 'dig_1'), join('u2', 'evt_others', 'dig_2')],
    });

    await store.beginErasure(erasureOfU1, eraseJob);
    // The open digest is gone at once: its close finds nothing to send.
    expect(await store.closeDigest(T, 'dig_1')).toBeNull();
    expect((await store.closeDigest(T, 'dig_2'))?.eventIds).toEqual(['evt_others']);
    const erased = { to: [{ subscriberId: 'erased:h' }], data: {} };
    expect((await store.getEvent(T, 'evt_digest'))!.payload).toMatchObject(erased);
    expect((await store.listSkippedSteps(T, 'evt_digest', 10)).map((s) => s.subscriberId)).toEqual(['u1']);
    expect(await store.eraseSkippedSteps(erasureOfU1)).toBe(1);
    expect(await store.eraseSkippedSteps(erasureOfU1)).toBe(0);
    expect((await store.listSkippedSteps(T, 'evt_digest', 10)).map((s) => s.subscriberId)).toEqual([
      'erased:h',
    ]);
    expect((await store.listSkippedSteps(T, 'evt_others', 10)).map((s) => s.subscriberId)).toEqual(['u2']);

    // Events a ready job will still reach u1 by, a page of two jobs at a time, lane after lane.
    let cursor = await store.scrubWaitingEvents(erasureOfU1, null, 2);
    let pages = 1;
    while (cursor) {
      cursor = await store.scrubWaitingEvents(erasureOfU1, cursor, 2);
      pages++;
    }
    expect(pages).toBeGreaterThan(2);
    const payload = async (id: string, tenantId = T) => (await store.getEvent(tenantId, id))!.payload;
    expect(await payload('evt_later')).toMatchObject(erased);
    expect(await payload('evt_page')).toMatchObject(erased);
    // Not alone in `to`: the data may be about the others, and stays.
    expect(await payload('evt_shared')).toMatchObject({
      to: ['u2', { subscriberId: 'erased:h' }],
      data: { about: 'ada' },
    });
    expect(await payload('evt_others')).toMatchObject({ to: ['u2'], data: { about: 'ada' } });
    expect(await payload('evt_later', OTHER)).toMatchObject({ to: ['u1'], data: { about: 'ada' } });
    // The deliver page naming u1 no longer does: a new u1 would never get the old event.
    const due = await store.claimJobs({
      owner: 'w',
      now: 85_000,
      leaseMs: 1000,
      quotas: [{ lane: 'bulk', limit: 10 }],
    });
    expect(
      due
        .filter((job) => job.kind === 'deliver')
        .map((job) => (job.payload as { subscriberIds: string[] }).subscriberIds),
    ).toEqual([['u3'], ['u2', 'u3']]);
    expect(
      due
        .filter((job) => job.kind === 'fallback' || job.kind === 'inbox-wake')
        .map((job) => `${job.kind}:${(job.payload as { subscriberId: string }).subscriberId}`),
    ).toEqual(['fallback:u2', 'inbox-wake:u2']);
  });

  it("reads, for the export, the events a subscriber's digests gathered and the tenant's waiting jobs, a page at a time", async () => {
    const store = current();
    for (const tenantId of [T, OTHER]) await store.putWorkflow(tenantId, 'w', { channels: [] }, 1);
    const join = (subscriberId: string, eventId: string, digestId: string, tenantId = T) =>
      digestJoin(subscriberId, eventId, digestId, `k:${digestId}`, tenantId);
    await store.createMessages([], undefined, [], {
      joins: [
        join('u1', 'evt_1', 'dig_a'),
        join('u1', 'evt_2', 'dig_a'),
        join('u1', 'evt_3', 'dig_a'),
        join('u2', 'evt_9', 'dig_b'),
        join('u1', 'evt_8', 'dig_c', OTHER),
      ],
    });
    const first = await store.pageDigestEvents(T, 'u1', null, 2);
    expect(first).toEqual([
      { digestId: 'dig_a', workflow: 'w', openedAt: 1000, closesAt: 61_000, eventId: 'evt_1' },
      { digestId: 'dig_a', workflow: 'w', openedAt: 1000, closesAt: 61_000, eventId: 'evt_2' },
    ]);
    const rest = await store.pageDigestEvents(T, 'u1', { digestId: 'dig_a', eventId: 'evt_2' }, 2);
    expect(rest.map((ref) => ref.eventId)).toEqual(['evt_3']);
    expect(await store.pageDigestEvents(T, 'u3', null, 2)).toEqual([]);

    // The waiting jobs: the digest closes queued above (high lane), then these, two per page.
    await store.enqueueJobs([
      { tenantId: T, kind: 'fanout', lane: 'normal', payload: { eventIds: ['evt_1'] }, runAt: 50_000 },
      {
        tenantId: T,
        kind: 'deliver',
        lane: 'normal',
        payload: { eventId: 'evt_2', subscriberIds: ['u1'] },
        runAt: 60_000,
      },
      { tenantId: T, kind: 'endpoint_event', lane: 'normal', payload: { big: 'x' }, runAt: 70_000 },
      { tenantId: OTHER, kind: 'fanout', lane: 'normal', payload: { eventIds: ['evt_x'] }, runAt: 1 },
    ]);
    const jobs: { kind: string; runAt: number; payload: unknown }[] = [];
    let cursor = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<Store['pageWaitingJobs']>> = await store.pageWaitingJobs(T, cursor, 2);
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      jobs.push(...page.jobs.map(({ kind, runAt, payload }) => ({ kind, runAt, payload })));
      cursor = page.next;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(2);
    expect(jobs.filter((job) => job.kind !== 'digest')).toEqual([
      { kind: 'fanout', runAt: 50_000, payload: { eventIds: ['evt_1'] } },
      { kind: 'deliver', runAt: 60_000, payload: { eventId: 'evt_2', subscriberIds: ['u1'] } },
      // Other kinds' payloads are not read.
      { kind: 'endpoint_event', runAt: 70_000, payload: null },
    ]);
  });

  it('says which events name a subscriber in their `to`, by id or inline, among ids of the tenant', async () => {
    const store = current();
    for (const tenantId of [T, OTHER]) await store.putWorkflow(tenantId, 'w', { channels: [] }, 1);
    const accepted = (id: string, to: unknown[], tenantId = T) =>
      acceptedEvent(id, { to, data: { n: id } } as Omit<EventInput, 'workflow'>, { tenantId });
    const results = await store.acceptEvents(
      [
        accepted('evt_plain', ['u2', 'u1']),
        accepted('evt_inline', [{ subscriberId: 'u1', email: 'u1@example.com' }]),
        accepted('evt_topic', [{ topic: 'u1' }]),
        accepted('evt_other', ['u2']),
        accepted('evt_plain', ['u1'], OTHER),
        accepted('evt_theirs', ['u1'], OTHER),
      ],
      1000,
    );
    expect(results.every((result) => result.ok)).toBe(true);
    const ids = ['evt_plain', 'evt_inline', 'evt_topic', 'evt_other', 'evt_theirs', 'evt_missing'];
    expect((await store.eventsNaming(T, ids, 'u1')).sort()).toEqual(['evt_inline', 'evt_plain']);
    expect(await store.eventsNaming(T, ids, 'u3')).toEqual([]);
    expect(await store.eventsNaming(T, [], 'u1')).toEqual([]);
  });

  it('names the subscriber by the erased id in the events they were the actor of, in batches, up to the erasure', async () => {
    const store = current();
    await store.upsertSubscriber(T, 'u1', { email: 'ada@example.com' }, 1);
    for (const tenantId of [T, OTHER]) await store.putWorkflow(tenantId, 'w', { channels: [] }, 1);
    const accepted = (id: string, actor: string | undefined, now = 1000, tenantId = T) =>
      acceptedEvent(
        id,
        // A data key of the name is not the actor.
        { to: ['u2'], data: { about: 'ada', actor: 'u1' }, ...(actor === undefined ? {} : { actor }) },
        { tenantId, now, subscriberIds: ['u2'] },
      );
    const results = await store.acceptEvents(
      [
        accepted('evt_a1', 'u1'),
        accepted('evt_a2', 'u1'),
        accepted('evt_a3', 'u1'),
        accepted('evt_u2', 'u2'),
        accepted('evt_none', undefined),
        // Accepted after the erasure took effect (beginErasure's `before` is now at least): the
        // id's next holder's.
        accepted('evt_new', 'u1', Date.now() + 3_600_000),
        accepted('evt_a1', 'u1', 1000, OTHER),
      ],
      1000,
    );
    expect(results.every((result) => result.ok)).toBe(true);

    // The first batch (two) goes with the erasure's first transaction; the job goes on.
    await store.beginErasure(erasureOfU1, eraseJob);
    const actors = async (tenantId = T) =>
      Object.fromEntries(
        await Promise.all(
          ['evt_a1', 'evt_a2', 'evt_a3', 'evt_u2', 'evt_none', 'evt_new'].map(async (id) => [
            id,
            (await store.getEvent(tenantId, id))?.payload.actor,
          ]),
        ),
      );
    expect(Object.values(await actors()).filter((actor) => actor === 'erased:h')).toHaveLength(2);
    expect(await store.eraseActorEvents(erasureOfU1)).toBe(1);
    expect(await store.eraseActorEvents(erasureOfU1)).toBe(0);
    expect(await actors()).toEqual({
      evt_a1: 'erased:h',
      evt_a2: 'erased:h',
      evt_a3: 'erased:h',
      evt_u2: 'u2',
      evt_none: undefined,
      evt_new: 'u1',
    });
    // The rest of the event as it was: `to` and `data` are the recipients'.
    expect((await store.getEvent(T, 'evt_a1'))!.payload).toEqual({
      workflow: 'w',
      to: ['u2'],
      data: { about: 'ada', actor: 'u1' },
      actor: 'erased:h',
    });
    expect((await store.getEvent(OTHER, 'evt_a1'))!.payload.actor).toBe('u1');
  });

  it("drops, in the queue's last pass, the sends still waiting for their erased messages: no partition key names them beside those ids", async () => {
    const store = current();
    await store.upsertSubscriber(T, 'u1', {}, 1);
    const send = (messageId: string, partitionKey: string, runAt: number) => ({
      tenantId: T,
      kind: 'send',
      lane: 'normal' as const,
      partitionKey,
      payload: { messageId },
      runAt,
    });
    // u1's message waiting out quiet hours; one of the same id made after the erasure began (a new
    // u1); one of a subscriber whose id only starts like u1's; another tenant's u1.
    const [old, later] = [msgId(1000, 1), msgId(9000, 2)];
    await store.enqueueJobs([
      send(old, `${T}:u1:email:normal`, 80_000),
      send(later, `${T}:u1:email:normal`, 80_000),
      send(msgId(1000, 3), `${T}:u1:x:email:normal`, 80_000),
      { ...send(msgId(1000, 4), `${OTHER}:u1:sms:high`, 80_000), tenantId: OTHER },
    ]);
    await store.beginErasure(erasureOfU1, eraseJob);
    for (let cursor = await store.scrubWaitingEvents(erasureOfU1, null, 2); cursor; )
      cursor = await store.scrubWaitingEvents(erasureOfU1, cursor, 2);
    // The first pass (before the messages are erased) leaves the sends alone.
    expect((await store.countJobs()).ready).toBe(5);
    for (let cursor = await store.scrubWaitingEvents(erasureOfU1, null, 2, true); cursor; )
      cursor = await store.scrubWaitingEvents(erasureOfU1, cursor, 2, true);
    const due = await store.claimJobs({
      owner: 'w',
      now: 85_000,
      leaseMs: 1000,
      quotas: [
        { lane: 'normal', limit: 10 },
        { lane: 'high', limit: 10 },
      ],
    });
    expect(
      due
        .filter((job) => job.kind === 'send')
        .map((job) => (job.payload as { messageId: string }).messageId)
        .sort(),
    ).toEqual([msgId(1000, 3), msgId(1000, 4), later].sort());
  });

  it("erases the subscriber's rate-limit counters of every rule, a page of rules at a time, and no one else's", async () => {
    const store = current();
    const scope = (rule: string, ...rest: string[]) => [rule, ...rest].join('\u001f');
    const perSubscriber = scope('wa', 'subscriber', '3600000', '1');
    const perChannel = scope('wb', 'subscriber+channel', '60000', '1');
    const scopes = [
      scope(perSubscriber, 'u1'),
      scope(perSubscriber, 'u10'),
      scope(perSubscriber, 'u2'),
      scope(perChannel, 'u1', 'email'),
      scope(perChannel, 'u1', 'sms'),
      scope(perChannel, 'u2', 'email'),
      scope('wc', 'tenant', '60000', '1'),
      // The other kinds of counter: the daily cap's (per subscriber) and an integration's send slots.
      dailyCapScope('u1'),
      dailyCapScope('u2'),
      '\u001eintegration\u001fsmtp-1',
    ];
    const counters = scopes.map((s) => ({ scope: s, limit: 1, windowEnd: Date.now() + 3_600_000 }));
    const takeEach = (tenantId: string) =>
      store.takeRateCounts(
        tenantId,
        counters,
        counters.map((_, i) => ({ shared: [i], parts: [[]] })),
      );
    expect(await takeEach(T)).toEqual(counters.map(() => [-1]));
    expect(await takeEach(OTHER)).toEqual(counters.map(() => [-1]));

    let from = await store.eraseRateCounters(erasureOfU1, null, 1);
    let pages = 1;
    while (from !== null) {
      from = await store.eraseRateCounters(erasureOfU1, from, 1);
      pages++;
    }
    // Three rules, then the look past the last.
    expect(pages).toBe(4);
    // u1's counters start again; everyone else's (u10 too, and the other tenant's u1) stay full.
    const full = await takeEach(T);
    expect(full.map(([answer], i) => (answer === -1 ? scopes[i] : null)).filter(Boolean)).toEqual([
      scopes[0],
      scopes[3],
      scopes[4],
      dailyCapScope('u1'),
    ]);
    expect(await takeEach(OTHER)).toEqual(counters.map((_, i) => [i]));
  });

  it('takes effect when it commits: a message stamped after the DELETE began, written before, is erased too', async () => {
    const store = current();
    await store.upsertSubscriber(T, 'u1', { email: 'ada@example.com' }, 1);
    // A delivery built after the API took its time for the DELETE, and wrote before the erasure.
    const stamped = Date.now() - 1;
    const id = msgId(stamped, 1);
    await store.createMessages([
      { record: message({ id, subscriberId: 'u1', createdAt: stamped }), followUp: null },
    ]);
    let jobFrom = 0;
    await store.beginErasure({ ...erasureOfU1, before: 1000, now: 1000, batch: 10 }, (before) => {
      jobFrom = before;
      return eraseJob;
    });
    expect(jobFrom).toBeGreaterThanOrEqual(stamped);
    expect(await store.getMessage(T, id)).toMatchObject({ subscriberId: 'erased:h', content: {} });
  });

  it('writes a delivery only to the subscribers it was built for: none erased since, nor erased and created again', async () => {
    const store = current();
    const [u1, u2, u3] = await Promise.all(
      ['u1', 'u2', 'u3'].map((id) => store.upsertSubscriber(T, id, { email: `${id}@example.com` }, 1000)),
    );
    // Built now, from the subscribers as read; then u1 is erased, and u3 erased and created anew.
    const built = [u1!, u2!, u3!].map((subscriber, n) => ({
      record: message({
        id: msgId(2000, n),
        subscriberId: subscriber.id,
        channel: 'in_app',
        status: 'delivered',
        createdAt: 2000,
      }),
      followUp: { tenantId: T, kind: 'send', lane: 'normal' as const, payload: { n } },
      subscriberCreatedAt: subscriber.createdAt,
    }));
    await store.beginErasure(erasureOfU1, eraseJob);
    await store.beginErasure({ ...erasureOfU1, subscriberId: 'u3' }, eraseJob);
    await store.upsertSubscriber(T, 'u3', { email: 'someone-else@example.com' }, 3000);
    expect(await store.createMessages(built)).toEqual([msgId(2000, 1)]);
    expect(await store.getMessage(T, msgId(2000, 0))).toBeNull();
    expect(await store.getMessage(T, msgId(2000, 2))).toBeNull();
    const sends = await store.claimJobs({
      owner: 'w',
      now: 10_000,
      leaseMs: 1000,
      quotas: [{ lane: 'normal', limit: 10 }],
    });
    expect(sends.map((job) => job.payload)).toEqual([{ n: 1 }]);
  });

  it("sends an erasure's notice with its commit, on the store's channel where it has one", async () => {
    const store = current();
    await store.upsertSubscriber(T, 'u1', { email: 'ada@example.com' }, 1);
    const request = erasureOfU1;
    const notice = { channel: 'inbox' as const, payload: '{"erased":"u1"}' };
    if (!store.capabilities.crossProcessWakeups || !store.openChannel) {
      // No other process to tell: the notice is ignored, the erasure made.
      await store.beginErasure(request, eraseJob, notice);
      expect(await store.getSubscriber(T, 'u1')).toBeNull();
      return;
    }
    // What a listener sees when it hears the notice: the erasure already committed.
    const heard: Promise<[string, boolean]>[] = [];
    const channel = await store.openChannel('inbox', (payload) => {
      heard.push(store.getSubscriber(T, 'u1').then((subscriber) => [payload, subscriber === null]));
    });
    try {
      await store.beginErasure(request, eraseJob, notice);
      await waitFor(() => heard.length > 0, 'the notice');
      expect(await Promise.all(heard)).toEqual([[notice.payload, true]]);
    } finally {
      await channel.close();
    }
  });

  it('purges rows older than the retention by tenant, in bounded batches, and dead letters', async () => {
    const store = current();
    await store.createMessages(
      [1, 2, 3].map((n) => ({ record: message({ id: msgId(1000, n) }), followUp: null })),
    );
    await store.createMessages([
      { record: message({ id: msgId(50_000, 1), createdAt: 50_000 }), followUp: null },
      { record: message({ id: msgId(1000, 1), tenantId: OTHER }), followUp: null },
    ]);
    expect(await store.purgeExpired('messages', T, 10_000, 2)).toBe(2);
    expect(await store.purgeExpired('messages', T, 10_000, 2)).toBe(1);
    expect(await store.purgeExpired('messages', T, 10_000, 2)).toBe(0);
    expect(await store.getMessage(T, msgId(50_000, 1))).not.toBeNull();
    expect(await store.getMessage(OTHER, msgId(1000, 1))).not.toBeNull();
    // Events: an old one goes, one scheduled for later than the cut-off stays until then.
    const event = (id: string, sendAt?: string) => ({
      tenantId: T,
      id,
      input: { workflow: 'welcome', to: ['u1'], ...(sendAt ? { sendAt } : {}) },
      idempotencyKey: null,
      payloadHash: null,
      now: 1000,
      inlineSubscribers: [],
      subscriberIds: [],
      job: { kind: 'fanout', runAt: null },
    });
    const [old, later] = [`${idFloor('evt', 1000)}a`, `${idFloor('evt', 1000)}b`];
    await store.acceptEvents([event(old), event(later, new Date(20_000).toISOString())], 1000);
    expect(await store.purgeExpired('events', T, 10_000, 10)).toBe(1);
    expect(await store.getEvent(T, old)).toBeNull();
    expect(await store.getEvent(T, later)).not.toBeNull();
    expect(await store.purgeExpired('events', T, 30_000, 10)).toBe(1);
    expect(await store.purgeExpired('skipped_steps', T, 10_000, 10)).toBe(0);
    expect(await store.purgeExpired('sandbox_captures', T, 10_000, 10)).toBe(0);

    // Dead letters: only those created before the cut-off.
    await store.enqueueJobs([{ tenantId: T, kind: 'test', lane: 'normal', payload: {} }]);
    const [held] = await store.claimJobs({
      owner: 'w',
      now: Date.now() + 10,
      leaseMs: 1000,
      quotas: [{ lane: 'normal', limit: 1 }],
    });
    await store.deadJob('w', held!.id, 'boom');
    expect(await store.listDeadJobs(10)).toHaveLength(1);
    expect(await store.purgeDeadJobs(held!.createdAt, 10)).toBe(0);
    expect(await store.purgeDeadJobs(held!.createdAt + 1, 10)).toBe(1);
    expect(await store.listDeadJobs(10)).toEqual([]);
  });
}
