import { fallbackDueAt, fallbackStepAfter } from '../policy/fallback.ts';
import type {
  Channel,
  Lane,
  MessageRecord,
  MessageStatus,
  SkippedStep,
  WorkflowDefinition,
  WorkflowRecord,
} from '../shared/model.ts';
import type { JobSpec, NewMessage } from '../store/port.ts';
import type { DeliveryTarget } from './deliver.ts';
import { JOB_KINDS } from './deps.ts';

/**
 * When fallback steps are looked at: durable `fallback` jobs (src/pipeline/fallback.ts), never
 * in-memory timers. A fallback step's job is queued by whatever settles the step before it, in the
 * same transaction:
 * - its send (src/pipeline/send.ts): `sent` → due `after` later; failed, dead, suppressed → at once;
 * - its delivery (this file), when the previous step's messages are settled as soon as they are
 *   built: an in-app message (delivered when written) → due `after` later; one that did not go
 *   out (suppressed, failed, rate limited, paused) or a step skipped by its `if` → at once;
 * - a receipt for a message not yet sent (src/api/routes/receipts.ts) → due `after` later.
 * The job decides when it fires (policy/fallback.ts); running it twice is harmless.
 *
 * Each job, from its insert until it ends (run, dropped by an erasure, dead), is an open part of
 * its event (open-parts.ts), kept by the store's triggers: the event reads `processing`, not
 * `completed`, while a fallback still waits.
 */

export interface FallbackPayload {
  eventId: string;
  subscriberId: string;
  /** The fallback step's index in the workflow's `channels`. */
  step: number;
  /** Queued by the write that built the step: only marks the previous step escalated, never builds. */
  confirm?: true;
}

export function fallbackJob(
  of: Pick<MessageRecord, 'tenantId' | 'eventId' | 'subscriberId'>,
  step: number,
  lane: Lane,
  runAt: number,
  confirm = false,
): JobSpec {
  const payload: FallbackPayload = { eventId: of.eventId, subscriberId: of.subscriberId, step };
  if (confirm) payload.confirm = true;
  return { tenantId: of.tenantId, kind: JOB_KINDS.fallback, lane, payload, runAt };
}

function hasFallback(definition: WorkflowDefinition): boolean {
  return definition.channels.some((step) => step.fallback !== undefined);
}

/**
 * The fallback job a message's new `status` queues, if the step after the message's own is a
 * fallback (undefined otherwise: most workflows pay one scan of their few steps).
 */
export function fallbackAfterSettled(
  workflow: WorkflowRecord | null,
  message: Pick<MessageRecord, 'tenantId' | 'eventId' | 'subscriberId' | 'channel'>,
  status: MessageStatus,
  lane: Lane,
  now: number,
): JobSpec | undefined {
  const steps = workflow?.definition.channels;
  if (!steps || steps.length < 2) return undefined;
  const next = fallbackStepAfter(steps, message.channel);
  if (next === null) return undefined;
  const at = fallbackDueAt(steps[next]!, status, now);
  return at === null ? undefined : fallbackJob(message, next, lane, at);
}

const key = (tenantId: string, eventId: string, subscriberId: string) =>
  `${tenantId}\u0000${eventId}\u0000${subscriberId}`;

/**
 * The fallback jobs a delivery write queues: for each recipient built here and each fallback step
 * whose previous step was built here too, unless that step's messages are still waiting for their
 * send (which queues the job when it settles). Recipients not built (digest joins, schedules, a
 * batch that ran out of render budget) are left to the write that builds them.
 */
export function fallbackTimers(
  targets: readonly DeliveryTarget[],
  messages: readonly NewMessage[],
  skipped: readonly SkippedStep[],
  deferred: readonly DeliveryTarget[],
  now: number,
): JobSpec[] {
  if (!targets.some((target) => hasFallback(target.workflow.definition))) return [];
  const built = new Map<string, Map<Channel, MessageStatus[]>>();
  for (const { record } of messages) {
    const k = key(record.tenantId, record.eventId, record.subscriberId);
    let byChannel = built.get(k);
    if (!byChannel) {
      byChannel = new Map();
      built.set(k, byChannel);
    }
    const statuses = byChannel.get(record.channel);
    if (statuses) statuses.push(record.status);
    else byChannel.set(record.channel, [record.status]);
  }
  const skippedOnly = new Set(skipped.map((s) => key(s.tenantId, s.eventId, s.subscriberId)));
  // What a batch left for later, per recipient: some steps, or all of them ('all').
  const later = new Map<string, Set<number> | 'all'>();
  for (const target of deferred)
    for (const subscriberId of target.subscriberIds) {
      const k = key(target.event.tenantId, target.event.id, subscriberId);
      const steps = later.get(k);
      if (!target.steps || steps === 'all') later.set(k, 'all');
      else later.set(k, new Set([...(steps ?? []), ...target.steps]));
    }
  const jobs: JobSpec[] = [];
  for (const target of targets) {
    const steps = target.workflow.definition.channels;
    if (!hasFallback(target.workflow.definition)) continue;
    const only = target.steps ? new Set(target.steps) : null;
    const builds = (i: number) =>
      (steps[i]!.fallback === undefined || target.fallback !== undefined) && (!only || only.has(i));
    const { tenantId, id: eventId } = target.event;
    for (let step = 1; step < steps.length; step++) {
      if (!steps[step]!.fallback || !builds(step - 1)) continue;
      const previous = steps[step - 1]!.channel;
      for (const subscriberId of target.subscriberIds) {
        const k = key(tenantId, eventId, subscriberId);
        const byChannel = built.get(k);
        if (!byChannel && !skippedOnly.has(k)) continue;
        const left = later.get(k);
        if (left === 'all' || left?.has(step - 1)) continue;
        const statuses = byChannel?.get(previous) ?? [];
        const due = dueAfterDelivery(steps[step]!, statuses, now);
        if (due !== null)
          jobs.push(fallbackJob({ tenantId, eventId, subscriberId }, step, target.event.priority, due));
      }
    }
  }
  return jobs;
}

/** A step's messages as just built: the earliest moment one of them settles the next step, if any did. */
function dueAfterDelivery(
  step: DeliveryTarget['workflow']['definition']['channels'][number],
  statuses: readonly MessageStatus[],
  now: number,
): number | null {
  // No message (its `if` was false) did not go out, like a suppressed one.
  if (statuses.length === 0) return fallbackDueAt(step, 'suppressed', now);
  let due: number | null = null;
  for (const status of statuses) {
    const at = fallbackDueAt(step, status, now);
    // One still waiting for its send: that send queues the job (a device sent sooner wins there).
    if (at === null) return null;
    if (due === null || at > due) due = at;
  }
  return due;
}
