import { PAGE_BYTES } from '../api/sized-pages.ts';
import { deviceView, messageView, preferencesView, subscriberView } from '../api/views.ts';
import type { MessageRecord, SubscriberRecord } from '../shared/model.ts';
import { isoOrNull } from '../shared/time.ts';
import { TimeSlices } from '../shared/time-slices.ts';
import type { Store } from '../store/port.ts';
import { emptyPreferences } from '../store/preference-merge.ts';
import { consentLogJson } from './consent.ts';

/** Messages read per query at most: the export holds one page at a time, however many there are. */
export const EXPORT_PAGE = 200;

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
 * Everything held about a subscriber (API.md `GET /v1/subscribers/{id}/export`) as one JSON
 * document, produced piece by piece: the profile, preferences, devices (tokens masked), topics and
 * consent log first, then their messages newest first, with content, data and timeline, a page
 * at a time — so a subscriber with a million messages streams without ever being held in memory.
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
    const eventIds = [...new Set(page.rows.map((m) => m.eventId))];
    const events =
      eventIds.length === 0 ? [] : await store.getEvents(eventIds.map((e) => ({ tenantId, id: e })));
    const versions = new Map(events.map((e) => [e.id, e.workflowVersion]));
    for (const message of page.rows) {
      await slices.yieldIfDue();
      yield (first ? '' : ',') +
        JSON.stringify(exportedMessage(message, versions.get(message.eventId) ?? null));
      first = false;
    }
    if (!page.more) break;
    beforeId = page.rows.at(-1)!.id;
    await slices.yieldIfDue();
  }
  yield ']}';
}
