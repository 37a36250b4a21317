import type { EventRecord } from '../shared/model.ts';
import type { OpenPartsChange } from '../store/port.ts';
import type { DeliveryTarget } from './deliver.ts';

/**
 * Counting an event's open parts (EventRecord.openParts), so an event whose recipients resolve to
 * nobody (an empty topic, a recipient erased before its sendAt) reads completed once all its work
 * ran, and not before. A part is one job's share of that work: the event's fanout (a first job's
 * entry, a page of its topics) or one deliver job. The write that completes a part adds the parts
 * it queued for the event and takes away its own, in the same transaction, so the count reaches 0
 * only when no part is left to run.
 *
 * Only parts that made nothing are counted down: a part that made a message, a skipped step or a
 * digest join leaves the count above 0 for good (the event's messages tell its status from then
 * on). So a delivery that made something writes nothing more.
 */

/** One key per event, across tenants. */
export function eventKey(event: Pick<EventRecord, 'tenantId' | 'id'>): string {
  return `${event.tenantId}\u0000${event.id}`;
}

/** Resolving recipients, not a digest's close or a fallback step (those come after messages). */
function resolvesRecipients(target: DeliveryTarget): boolean {
  return target.digest === undefined && target.fallback === undefined;
}

/**
 * The changes a delivery write makes: each of `targets` is a part it closes, each of `deferred` a
 * part it queues, each change named by the job the part belongs to (DeliveryTarget.job: the
 * store applies it only if that job was still held); events in `madeFor` (by eventKey) made
 * something and are left alone. A target without a job is not counted (its event stays
 * `accepted` rather than read complete early).
 */
export function deliveryPartsChanges(
  targets: readonly DeliveryTarget[],
  deferred: readonly DeliveryTarget[],
  madeFor: ReadonlySet<string>,
): OpenPartsChange[] {
  const changes = new Map<string, OpenPartsChange>();
  const keyOf = (target: DeliveryTarget) => `${target.job}\u0000${eventKey(target.event)}`;
  for (const target of targets) {
    const { event, job } = target;
    if (job === undefined || !resolvesRecipients(target) || !counted(event)) continue;
    if (madeFor.has(eventKey(event))) continue;
    const change = changes.get(keyOf(target));
    if (change) change.by--;
    else changes.set(keyOf(target), { jobId: job, tenantId: event.tenantId, eventId: event.id, by: -1 });
  }
  if (changes.size === 0) return [];
  for (const target of deferred) {
    if (!resolvesRecipients(target)) continue;
    const change = changes.get(keyOf(target));
    if (change) change.by++;
  }
  // A part that only handed its recipients on to one later job changes nothing.
  return [...changes.values()].filter((change) => change.by !== 0);
}

/** A fanout page (job `jobId`) of `event` that queued `queued` jobs of its work (deliver pages, its next page). */
export function fanoutPageChange(event: EventRecord, jobId: number, queued: number): OpenPartsChange[] {
  const by = queued - 1;
  return by === 0 || !counted(event) ? [] : [{ jobId, tenantId: event.tenantId, eventId: event.id, by }];
}

/** Events accepted before parts were counted (migration 038) have none to change. */
function counted(event: EventRecord): boolean {
  return event.openParts !== null;
}
