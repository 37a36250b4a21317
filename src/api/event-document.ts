import type { EventRecord } from '../shared/model.ts';
import { TimeSlices } from '../shared/time-slices.ts';
import type { Store } from '../store/port.ts';
import { eventMessageView, eventStatus, eventView, skippedStepView } from './views.ts';

/** Most messages (and skipped steps) an event's view lists: the newest, oldest first. */
export const EVENT_VIEW_MESSAGES = 10_000;

/** Messages read per query: a page is read and parsed in one block. */
export const EVENT_VIEW_PAGE = 200;

/**
 * `GET /v1/events/{id}` as JSON text, produced piece by piece. An event to a large topic has
 * thousands of messages: read in one query and answered as one object, 10,000 of them held the
 * event loop — every other caller — 0.4–0.9 s per read (found by the hostile-input sweep). They
 * are now read a page at a time (messages_by_event) and written a message at a time, the event
 * loop given back every few milliseconds. Its status needs every message first, so the views
 * (without content) are gathered before anything is written; the JSON is the same as before.
 */
export async function eventDocument(
  store: Pick<Store, 'listEventMessages' | 'listSkippedSteps'>,
  event: EventRecord,
): Promise<AsyncGenerator<string>> {
  const slices = new TimeSlices();
  const { tenantId, id: eventId } = event;
  const messages: ReturnType<typeof eventMessageView>[] = [];
  let beforeId: string | undefined;
  while (messages.length < EVENT_VIEW_MESSAGES) {
    const limit = Math.min(EVENT_VIEW_PAGE, EVENT_VIEW_MESSAGES - messages.length);
    const page = await store.listEventMessages(tenantId, eventId, {
      limit,
      ...(beforeId ? { beforeId } : {}),
    });
    for (const message of page) messages.push(eventMessageView(message));
    if (page.length < limit) break;
    beforeId = page.at(-1)!.id;
    await slices.yieldIfDue();
  }
  // Read newest first; listed oldest first.
  messages.reverse();
  const skipped = await store.listSkippedSteps(tenantId, eventId, EVENT_VIEW_MESSAGES);
  const { messages: _, skipped: __, ...head } = eventView(event, [], eventStatus(event, messages, skipped));
  return (async function* () {
    yield `${JSON.stringify(head).slice(0, -1)},"messages":[`;
    for (let i = 0; i < messages.length; i++) {
      await slices.yieldIfDue();
      yield (i === 0 ? '' : ',') + JSON.stringify(messages[i]);
    }
    yield '],"skipped":[';
    for (let i = 0; i < skipped.length; i++) {
      await slices.yieldIfDue();
      yield (i === 0 ? '' : ',') + JSON.stringify(skippedStepView(skipped[i]!));
    }
    yield ']}';
  })();
}
