import type { JobSignal } from '../queue/signal.ts';
import type { MessageRecord } from '../shared/model.ts';
import type { JobSpec, MarkedItem, Store } from '../store/port.ts';
import type { DeliveryTally } from '../telemetry/delivery-tally.ts';
import type { WebhookEmitter } from './emit.ts';

/** What the API routes hand in (a part of their ApiContext). */
export interface EmitContext {
  store: Pick<Store, 'enqueueJobs'>;
  signal: JobSignal;
  webhooks: WebhookEmitter;
  /** Counts the status changes the API makes, for /metrics. */
  metrics?: { delivery: Pick<DeliveryTally, 'message'> };
}

/**
 * Status changes the API itself makes, told to webhook endpoints. These writes (inbox marks,
 * preference patches) queue no jobs of their own, so the events are queued right after them: a
 * crash in between loses the event, never the change.
 */
async function queue(context: EmitContext, jobs: JobSpec[]): Promise<void> {
  if (jobs.length === 0) return;
  await context.store.enqueueJobs(jobs);
  context.signal.notify(jobs[0]!.lane);
}

/** `message.read` for an inbox item this very mark (at `now`) made read. */
export async function emitInboxRead(context: EmitContext, item: MarkedItem, now: number): Promise<void> {
  await emitInboxReads(context, [item], now);
}

/** Webhook jobs queued per write by a read-all: a subscriber may have read thousands of items at once. */
const READ_EVENTS_PER_WRITE = 1_000;

/**
 * `message.read` for each of a read-all's items that it (at `now`) made read, queued a thousand
 * jobs a write with the event loop given back between: one write of every item's jobs (50,000
 * unread items, two endpoints) held the API thread for a whole transaction.
 */
export async function emitInboxReads(
  context: EmitContext,
  items: readonly MarkedItem[],
  now: number,
): Promise<void> {
  let jobs: JobSpec[] = [];
  for (const item of items) {
    if (item.status !== 'read' || item.readAt !== now) continue;
    context.metrics?.delivery.message(item.channel, 'read');
    jobs.push(...(await context.webhooks.forMessage(item, { status: 'read' }, now)));
    if (jobs.length < READ_EVENTS_PER_WRITE) continue;
    await queue(context, jobs);
    jobs = [];
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await queue(context, jobs);
}

/** The status a receipt (`POST /v1/messages/{id}/receipt`) just moved a message to: delivered, read or clicked. */
export async function emitReceipt(context: EmitContext, message: MessageRecord, now: number): Promise<void> {
  await queue(context, await context.webhooks.forMessage(message, { status: message.status }, now));
}

/** `subscriber.unsubscribed`: a one-click unsubscribe (or a preference change) opted them out of `scope`. */
export async function emitUnsubscribed(
  context: EmitContext,
  tenantId: string,
  subscriberId: string,
  scope: Record<string, unknown>,
  now: number,
): Promise<void> {
  const jobs = await context.webhooks.jobsFor(
    tenantId,
    'subscriber.unsubscribed',
    { subscriberId, ...scope },
    now,
  );
  await queue(context, jobs);
}
