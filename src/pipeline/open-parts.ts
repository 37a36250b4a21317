import type { EventRecord } from '../shared/model.ts';
import type { JobSpec, OpenPartsChange } from '../store/port.ts';
import type { DeliveryTarget } from './deliver.ts';
import { JOB_KINDS } from './deps.ts';
import type { FallbackPayload } from './fallback-timers.ts';

/**
 * Counting an event's open parts (EventRecord.openParts), so an event reads completed once all its
 * work ran, and not before: an event whose recipients resolve to nobody (an empty topic, a
 * recipient erased before its sendAt), and a broadcast whose first pages' messages are all
 * delivered while later pages wait in the queue. A part is one job's share of that work: the
 * event's fanout (a first job's entry, a page of its topics) or one deliver job. The write that
 * completes a part adds the parts it queued for the event and takes away its own, in the same
 * transaction, so the count reaches 0 only when no part is left to run.
 *
 * Most events are delivered by their first job alone: that part made the messages and queued
 * nothing, so its change is written only if the event already counts every part
 * (EventRecord.countsEveryPart) — else the messages, written in that same transaction, tell the
 * status, and the commonest delivery writes nothing more. Any other change is written, and the
 * first written marks the event as counting every part from then on. Until one is written an
 * event has at most one part open at a time (a part handing its recipients on to one later job
 * writes nothing), so no part can make messages while another is still to run unseen.
 *
 * A fallback step still to fire is a part too: each `fallback` job (fallback-timers.ts) opens its
 * part as it is inserted and closes it as it ends — completed, dropped by an erasure, or dead —
 * kept by the store's triggers (migration 050), in the statement that writes the job: no write
 * of its own. Opened on an event not counting every part yet, it marks it and replaces the stale
 * count (the one part ran, and made the message the fallback follows). The stores apply a write's
 * changes before its jobs' triggers. A delivery write that queues fallback jobs writes its own
 * change even when it would not otherwise (fallbacksFor): on PostgreSQL that locks the event row
 * with the write's others, in key order, before the jobs' triggers take it — in whatever order
 * they fire, two writes could otherwise lock two events the other way round and deadlock.
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
 * store applies it only if that job was still held); `madeFor` holds the events (by eventKey)
 * it made something for, `fallbacksFor` those it queues fallback jobs for (their changes are
 * always written: see the top of this file). A target without a job is not counted (its event
 * stays `accepted` rather than read complete early).
 */
export function deliveryPartsChanges(
  targets: readonly DeliveryTarget[],
  deferred: readonly DeliveryTarget[],
  madeFor: ReadonlySet<string>,
  fallbacksFor: ReadonlySet<string> = NONE,
): OpenPartsChange[] {
  const changes = new Map<string, OpenPartsChange>();
  const keyOf = (target: DeliveryTarget) => `${target.job}\u0000${eventKey(target.event)}`;
  const events = new Map<string, EventRecord>();
  for (const target of targets) {
    const { event, job } = target;
    if (job === undefined || !resolvesRecipients(target) || !counted(event)) continue;
    events.set(keyOf(target), event);
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
  return [...changes].flatMap(([key, change]) => {
    const event = events.get(key)!;
    const made = madeFor.has(eventKey(event));
    return fallbacksFor.has(eventKey(event)) || written(change, event, made) ? [change] : [];
  });
}

const NONE: ReadonlySet<string> = new Set();

/** The events (by eventKey) that `jobs` queue fallback steps for: each job opens a part of its event. */
export function fallbackPartsOf(jobs: readonly JobSpec[]): Set<string> {
  const events = new Set<string>();
  for (const job of jobs)
    if (job.kind === JOB_KINDS.fallback)
      events.add(eventKey({ tenantId: job.tenantId, id: (job.payload as FallbackPayload).eventId }));
  return events;
}

/** Whether a part's change is written (see the top of this file). */
function written(change: OpenPartsChange, event: EventRecord, made: boolean): boolean {
  if (event.countsEveryPart) return change.by !== 0;
  // Made something: unwritten only as the event's only part, done (its messages say the rest);
  // handing on to a later part as well, even one, it starts counting every part.
  if (made) return change.by !== -1;
  // Made nothing and handed its recipients on to one later job: nothing changes.
  return change.by !== 0;
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
