import {
  type Channel,
  type MessageRecord,
  type MessageStatus,
  UNSENT,
  UNSENT_STATUSES,
  type WorkflowChannelStep,
} from '../shared/model.ts';
import { iso, parseDuration } from '../shared/time.ts';

/**
 * Receipts and fallback chains, decided without I/O (API.md "Workflows", "Receipts"). A receipt
 * says how far a message got towards its reader: delivered < read < clicked. Status only moves
 * forward along that order; a message that did not go out (failed, bounced, dead, cancelled,
 * suppressed, rate_limited) is never revived by one.
 */

export const RECEIPTS = ['delivered', 'read', 'clicked'] as const;
export type Receipt = (typeof RECEIPTS)[number];

const RANK: Readonly<Partial<Record<MessageStatus, number>>> = { delivered: 1, read: 2, clicked: 3 };

/** 0 for a message without a receipt, else the receipt's place in delivered < read < clicked. */
function receiptRank(status: MessageStatus): number {
  return RANK[status] ?? 0;
}

/** Ended without reaching anyone: a receipt cannot revive them, and a fallback after them goes at once. */
export const DID_NOT_GO_OUT: ReadonlySet<MessageStatus> = new Set([
  'failed',
  'bounced',
  'dead',
  'cancelled',
  'suppressed',
  'rate_limited',
]);

/** The statuses a receipt moves forward from (any other: the receipt changes nothing). */
export function receiptMovesFrom(receipt: Receipt): MessageStatus[] {
  const lower = RECEIPTS.filter((r) => RANK[r]! < RANK[receipt]!);
  return [...UNSENT_STATUSES, 'sent', ...lower];
}

/** What a receipt does to a message in `status`: move it forward, nothing (already there), or refuse. */
export function receiptEffect(status: MessageStatus, receipt: Receipt): 'forward' | 'same' | 'refused' {
  if (DID_NOT_GO_OUT.has(status)) return 'refused';
  return receiptMovesFrom(receipt).includes(status) ? 'forward' : 'same';
}

function fallbackAfterMs(step: WorkflowChannelStep): number {
  return parseDuration(step.fallback?.after ?? '0s') ?? 0;
}

/**
 * The step whose message `message` is, when the step after it is a fallback: that next step's
 * index. The (event, subscriber, channel) uniqueness means a channel appears once in a delivery.
 */
export function fallbackStepAfter(steps: readonly WorkflowChannelStep[], channel: Channel): number | null {
  const index = steps.findIndex((step) => step.channel === channel);
  return index >= 0 && steps[index + 1]?.fallback ? index + 1 : null;
}

/**
 * When a fallback step is due once its previous step's message reached `status` (at `now`): `after`
 * from the send (or an in-app message's delivery, or a receipt before the send was recorded), at
 * once when it ended without going out, or null (nothing to time yet: its send will settle it).
 */
export function fallbackDueAt(step: WorkflowChannelStep, status: MessageStatus, now: number): number | null {
  if (status === 'sent' || receiptRank(status) > 0) return now + fallbackAfterMs(step);
  if (DID_NOT_GO_OUT.has(status)) return now;
  return null;
}

/** What a fallback step's job does when it fires. */
export type FallbackDecision =
  /**
   * Its message exists already (an earlier run, or another device's send queued this job too):
   * when it is under way, the previous step's messages (`escalated`) are marked, by `fallbacks`.
   */
  | { kind: 'exists'; escalated: string[]; fallbacks: MessageRecord[] }
  /** The previous step has not settled: its send queues this step again when it does. */
  | { kind: 'wait' }
  /** The previous step went out less than `after` ago: run again at `at`. */
  | { kind: 'later'; at: number }
  /** An earlier channel reached `unless` (or the chain stopped): the message is created cancelled. */
  | { kind: 'stop'; detail: string }
  /** Send it; `escalated` are the previous step's messages, which gain `escalated: true`. */
  | { kind: 'send'; detail: string; escalated: string[] };

/** When a message went out: its first `sent` entry, or receipt (in-app: `delivered` when written). */
function wentOutAt(message: MessageRecord): number | null {
  for (const entry of message.timeline)
    if (entry.status === 'sent' || receiptRank(entry.status as MessageStatus) > 0)
      return Date.parse(entry.at);
  return receiptRank(message.status) > 0 ? message.updatedAt : null;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Decides fallback step `index` of one (event, subscriber) from its messages so far. Sent only if,
 * `after` the previous step was sent, no earlier channel reached `unless`; at once if the previous
 * step ended without going out (or had no message: its `if` was false). A step after one stopped
 * by a receipt is stopped too, naming the same receipt: the chain is over.
 */
export function decideFallback(
  steps: readonly WorkflowChannelStep[],
  index: number,
  messages: readonly MessageRecord[],
  now: number,
): FallbackDecision {
  const step = steps[index]!;
  const unless = step.fallback!.unless;
  const previous = steps[index - 1]!;
  const before = messages.filter((m) => m.channel === previous.channel);
  const own = messages.filter((m) => m.channel === step.channel);
  if (own.length > 0) {
    const live = own.filter((m) => !DID_NOT_GO_OUT.has(m.status));
    return { kind: 'exists', escalated: live.length > 0 ? before.map((m) => m.id) : [], fallbacks: live };
  }
  const stopped = before.find((m) => m.status === 'cancelled' && m.reason === 'receipt');
  if (stopped) {
    const why = stopped.timeline.at(-1)?.detail ?? `${previous.channel} fallback was not sent`;
    return { kind: 'stop', detail: why };
  }
  let outAt: number | null = null;
  for (const message of before) {
    const at = wentOutAt(message);
    if (at !== null && (outAt === null || at < outAt)) outAt = at;
  }
  if (outAt === null && before.some((m) => UNSENT.has(m.status))) return { kind: 'wait' };
  const afterMs = fallbackAfterMs(step);
  if (outAt !== null && outAt + afterMs > now) return { kind: 'later', at: outAt + afterMs };
  const earlier = new Set(steps.slice(0, index).map((s) => s.channel));
  const reached = messages.find(
    (m) => earlier.has(m.channel) && receiptRank(m.status) >= receiptRank(unless),
  );
  if (reached) {
    const at = wentOutAt(reached);
    return {
      kind: 'stop',
      detail: `not sent: ${reached.channel} message ${reached.id} reached ${reached.status}${
        at === null ? '' : ` (went out ${iso(at)})`
      }, so no ${step.channel} fallback was needed (unless: ${unless})`,
    };
  }
  const detail =
    outAt !== null
      ? `fallback: no ${unless} receipt for ${previous.channel} within ${seconds(afterMs)} of its send`
      : before.length > 0
        ? `fallback: ${previous.channel} did not go out (${[...new Set(before.map((m) => m.status))].join(', ')})`
        : `fallback: no ${previous.channel} message (step skipped)`;
  return { kind: 'send', detail, escalated: before.map((m) => m.id) };
}
