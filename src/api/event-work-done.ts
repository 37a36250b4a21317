import { type EventRecord, type MessageStatus, UNSENT_STATUSES } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import { eventStatus } from './views.ts';

/**
 * Messages `DELETE /v1/events/{id}` still has something to stop for: waiting for their send or in
 * it, and dead letters (never sent; a replay would send them, and a cancel cancels them).
 */
const STOPPABLE: readonly MessageStatus[] = [...UNSENT_STATUSES, 'dead'];

/**
 * Whether all of `event`'s work is done, so a cancel has nothing left to stop: it reads
 * `completed` (every part ran — fallback steps still to fire included, open-parts.ts — and every
 * message is final or `sent`), no message is a dead letter, and its workflow gathers no digest (an
 * event reads `completed` once gathered, but the digest's close still reads it, and leaves it out
 * once cancelled) nor has a fallback step (one may fire after the event completed). A cancel
 * then leaves it as it is (api-behaviour-notes.md "Cancelling a
 * completed event"). Asked without reading every message of a large event: one lookup per status
 * a cancel stops (through messages_by_event), then one message or skipped step, which is all
 * eventStatus needs once none of those is left.
 */
export async function eventWorkDone(
  store: Pick<Store, 'listMessages' | 'listEventMessages' | 'listSkippedSteps' | 'getWorkflow'>,
  event: EventRecord,
): Promise<boolean> {
  if (event.status !== 'accepted') return false;
  if (event.countsEveryPart && event.openParts !== null && event.openParts > 0) return false;
  const { tenantId, id: eventId } = event;
  const definition = (await store.getWorkflow(tenantId, event.workflow))?.definition;
  if (definition?.digest) return false;
  // A workflow with a fallback step may fire one after its event completed: a provider's later
  // bounce or failure of a message queues the fallback at once, and only the event's stored cancel
  // stops it. (An event from before parts were counted, migration 046, may also have one waiting
  // uncounted.) Cancelled, as before: a DELETE stops whatever would come after it.
  if (definition?.channels.some((step) => step.fallback)) return false;
  for (const status of STOPPABLE)
    if ((await store.listMessages({ tenantId, eventId, status, limit: 1 })).length > 0) return false;
  const some = await store.listEventMessages(tenantId, eventId, { limit: 1 });
  const skipped = some.length > 0 ? [] : await store.listSkippedSteps(tenantId, eventId, 1);
  return eventStatus(event, some, skipped) === 'completed';
}
