import { PAGE_BYTES } from '../api/sized-pages.ts';
import { deviceView, messageView, preferencesView, subscriberView } from '../api/views.ts';
import { JOB_KINDS } from '../pipeline/deps.ts';
import type { EventRecord, MessageRecord, SubscriberRecord } from '../shared/model.ts';
import { iso, isoOrNull } from '../shared/time.ts';
import { TimeSlices } from '../shared/time-slices.ts';
import type { Store, WaitingJobsCursor } from '../store/port.ts';
import { emptyPreferences } from '../store/preference-merge.ts';
import { consentLogJson } from './consent.ts';

/** Messages read per query at most: the export holds one page at a time, however many there are. */
export const EXPORT_PAGE = 200;
/** Event ids the store checks per query for naming the subscriber (the export's pending events). */
const EVENTS_CHECKED = 500;

/**
 * A message as the export shows it: its view, the event data it was rendered from and, for an
 * in-app message, its inbox state (when the subscriber saw, read or archived it, and a snooze):
 * what the subscriber did with it is held about them too.
 */
function exportedMessage(message: MessageRecord, workflowVersion: number | null) {
  const view = { ...messageView(message, workflowVersion), data: message.data };
  if (message.channel !== 'in_app') return view;
  return {
    ...view,
    inbox: {
      seenAt: isoOrNull(message.seenAt),
      readAt: isoOrNull(message.readAt),
      archivedAt: isoOrNull(message.archivedAt),
      snoozedUntil: isoOrNull(message.snoozedUntil ?? null),
    },
  };
}

/**
 * What an event not yet a message for the subscriber shows of itself: what it would be rendered
 * from (its data), not its other recipients.
 */
function pendingEvent(event: EventRecord) {
  return {
    eventId: event.id,
    workflow: event.workflow,
    createdAt: iso(event.createdAt),
    data: event.payload.data ?? {},
    ...(event.payload.actor !== undefined ? { actor: event.payload.actor } : {}),
    ...(event.payload.sendAt ? { sendAt: event.payload.sendAt } : {}),
    ...(event.payload.schedule ? { schedule: event.payload.schedule } : {}),
  };
}

/** The events of `ids` still stored (the retention may have taken one), by id. */
async function eventsById(store: Store, tenantId: string, ids: Iterable<string>) {
  const unique = [...new Set(ids)];
  const events = unique.length === 0 ? [] : await store.getEvents(unique.map((id) => ({ tenantId, id })));
  return new Map(events.map((event) => [event.id, event]));
}

/**
 * The subscriber's events that are not messages yet (the export's `pending`), a page at a time:
 * those their digests have gathered, then those the tenant's waiting jobs will still fan out or
 * deliver to them (a `sendAt` or local-time schedule ahead, a topic's page not yet reached). The
 * queue is read EXPORT_PAGE jobs per query, however many the tenant has; only the subscriber's
 * events are held, a page of them at a time. What erasure scrubs of them (src/privacy/erasure.ts)
 * is what is listed here.
 */
async function* pendingJson(
  store: Store,
  tenantId: string,
  subscriberId: string,
  slices: TimeSlices,
): AsyncGenerator<string> {
  let first = true;
  let after: { digestId: string; eventId: string } | null = null;
  for (;;) {
    const refs = await store.pageDigestEvents(tenantId, subscriberId, after, EXPORT_PAGE);
    const events = await eventsById(
      store,
      tenantId,
      refs.map((ref) => ref.eventId),
    );
    for (const ref of refs) {
      const event = events.get(ref.eventId);
      if (!event || event.status === 'cancelled') continue;
      await slices.yieldIfDue();
      // Its key is kept only as a hash of what the template rendered: nothing to show of it.
      const digest = { openedAt: iso(ref.openedAt), closesAt: iso(ref.closesAt) };
      yield (first ? '' : ',') + JSON.stringify({ ...pendingEvent(event), reason: 'digest', digest });
      first = false;
    }
    if (refs.length < EXPORT_PAGE) break;
    const last = refs.at(-1)!;
    after = { digestId: last.digestId, eventId: last.eventId };
    await slices.yieldIfDue();
  }
  let cursor: WaitingJobsCursor | null = null;
  do {
    const page: Awaited<ReturnType<Store['pageWaitingJobs']>> = await store.pageWaitingJobs(
      tenantId,
      cursor,
      EXPORT_PAGE,
    );
    // A deliver job's page names its recipients; an event's first fanout job names its events,
    // whose `to` may name them (a fanout going on through a topic's members, `cursor`, has
    // already paged the ids `to` names).
    const due = new Map<string, { runAt: number; named: boolean }>();
    for (const job of page.jobs) {
      const payload = job.payload;
      if (!payload) continue;
      if (job.kind === JOB_KINDS.deliver) {
        const ids = Array.isArray(payload.subscriberIds) ? payload.subscriberIds : [];
        if (typeof payload.eventId === 'string' && ids.includes(subscriberId))
          due.set(payload.eventId, { runAt: job.runAt, named: true });
      } else if (job.kind === JOB_KINDS.fanout && payload.cursor === undefined) {
        const named = Array.isArray(payload.eventIds) ? payload.eventIds : [payload.eventId];
        for (const id of named)
          if (typeof id === 'string' && !due.has(id)) due.set(id, { runAt: job.runAt, named: false });
      }
    }
    // A page of first fanout jobs names up to EXPORT_PAGE × 100 events, almost all of them others':
    // the store says which name the subscriber, and only those are read whole, a chunk at a time.
    const unnamed = [...due].filter(([, { named }]) => !named).map(([eventId]) => eventId);
    const theirs = new Set<string>();
    for (let i = 0; i < unnamed.length; i += EVENTS_CHECKED) {
      for (const id of await store.eventsNaming(tenantId, unnamed.slice(i, i + EVENTS_CHECKED), subscriberId))
        theirs.add(id);
      await slices.yieldIfDue();
    }
    const pending = [...due].filter(([eventId, { named }]) => named || theirs.has(eventId));
    for (let i = 0; i < pending.length; i += EXPORT_PAGE) {
      const chunk = pending.slice(i, i + EXPORT_PAGE);
      const events = await eventsById(
        store,
        tenantId,
        chunk.map(([eventId]) => eventId),
      );
      for (const [eventId, { runAt }] of chunk) {
        const event = events.get(eventId);
        if (!event || event.status === 'cancelled') continue;
        await slices.yieldIfDue();
        yield (first ? '' : ',') +
          JSON.stringify({ ...pendingEvent(event), reason: 'scheduled', dueAt: iso(runAt) });
        first = false;
      }
    }
    cursor = page.next;
    await slices.yieldIfDue();
  } while (cursor);
}

/**
 * Everything held about a subscriber (API.md `GET /v1/subscribers/{id}/export`) as one JSON
 * document, produced piece by piece: the profile, preferences, devices (tokens masked), topics and
 * consent log first, then the events not yet messages for them (pending), then their messages
 * newest first, with content, data and timeline, a page at a time — so a subscriber with a million
 * messages streams without ever being held in memory.
 */
export async function* exportSubscriber(
  store: Store,
  subscriber: SubscriberRecord,
  now: number,
): AsyncGenerator<string> {
  const { tenantId, id } = subscriber;
  const [choices, devices, topics] = await Promise.all([
    store.getPreferences(tenantId, id),
    store.listDevices(tenantId, id),
    store.subscriberTopics(tenantId, id),
  ]);
  const profile = subscriberView(subscriber);
  const head = {
    exportedAt: new Date(now).toISOString(),
    // API.md lists the export's parts as "profile, preferences, devices, messages, consent log":
    // the profile is under that name too, beside `subscriber` (its name here since the first export).
    profile,
    subscriber: profile,
    preferences: preferencesView(choices ?? emptyPreferences()),
    devices: devices.map(deviceView),
    topics,
  };
  yield JSON.stringify(head).slice(0, -1);
  // The event loop given back every few milliseconds, however long the log and the messages are.
  const slices = new TimeSlices();
  yield ',"consentLog":[';
  yield* consentLogJson(store, tenantId, id, slices);
  yield '],"pending":[';
  yield* pendingJson(store, tenantId, id, slices);
  yield '],"messages":[';
  let first = true;
  let beforeId: string | undefined;
  // A message's content may be 2 MB (MAX_MESSAGE_CHARS): a page of 200 such, read in one block (a
  // SQLite read, or PostgreSQL's rows parsed), held the event loop — every tenant's requests —
  // half a second in a 72 MB export, though the export gives it back between messages. A query
  // reads about PAGE_BYTES of messages (SizedPage), however their sizes are ordered.
  for (;;) {
    const page = await store.pageMessages({
      tenantId,
      subscriberId: id,
      limit: EXPORT_PAGE,
      maxBytes: PAGE_BYTES,
      ...(beforeId ? { beforeId } : {}),
    });
    // The version each message rendered with is its event's, as `GET /v1/messages` shows it (the
    // export showed null): the page's events read once each.
    const events = await eventsById(
      store,
      tenantId,
      page.rows.map((m) => m.eventId),
    );
    for (const message of page.rows) {
      await slices.yieldIfDue();
      const version = events.get(message.eventId)?.workflowVersion ?? null;
      yield (first ? '' : ',') + JSON.stringify(exportedMessage(message, version));
      first = false;
    }
    if (!page.more) break;
    beforeId = page.rows.at(-1)!.id;
    await slices.yieldIfDue();
  }
  yield ']}';
}
