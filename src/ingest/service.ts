import { JOB_KINDS, notifyLanes } from '../pipeline/deps.ts';
import type { JobSignal } from '../queue/signal.ts';
import { newId } from '../shared/ids.ts';
import type { EventInput, Lane, Recipient } from '../shared/model.ts';
import { isStoreUnavailable } from '../store/errors.ts';
import type { AcceptEvent, AcceptResult, EventStore } from '../store/port.ts';
import { payloadHash } from './canonical.ts';
import type { EventBody } from './schema.ts';

export const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

interface Pending {
  event: AcceptEvent;
  resolve(result: AcceptResult): void;
  reject(error: unknown): void;
}

/** Workflows whose lane this process has learned from accepts; forgotten all at once beyond this. */
const MAX_KNOWN_LANES = 10_000;

function inlineSubscribers(to: Recipient[]): AcceptEvent['inlineSubscribers'] {
  const out: AcceptEvent['inlineSubscribers'] = [];
  for (const r of to) {
    if (typeof r === 'object' && 'subscriberId' in r) {
      const { subscriberId, ...patch } = r;
      out.push({ id: subscriberId, ...(patch as object) });
    }
  }
  return out;
}

/**
 * Accepts validated events durably. Requests arriving in the same tick are grouped into one
 * store transaction (group commit), so each 202 still follows its own commit while the store
 * pays for one commit per batch instead of one per request.
 */
export class IngestService {
  private queue: Pending[] = [];
  private scheduled = false;
  /**
   * The lane of each workflow's events without a priority of their own, as their accepts
   * answered it. Only a hint for the workers (JobSignal.expectUrgent): a workflow whose priority
   * changed since is taken for what it was until its next accept.
   */
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly store: EventStore,
    private readonly signal: JobSignal,
    private readonly maxBatch = 2_000,
  ) {}

  /** Accepts one event; the promise settles after its transaction has committed. */
  accept(tenantId: string, body: EventBody, idempotencyKey: string | null): Promise<AcceptResult> {
    const now = Date.now();
    const { idempotencyKey: _inBody, ...rest } = body;
    const input: EventInput = rest as EventInput;
    const id = newId('evt', now);
    const sendAt = body.sendAt ? Date.parse(body.sendAt) : now;
    const event: AcceptEvent = {
      tenantId,
      id,
      input,
      idempotencyKey,
      payloadHash: idempotencyKey === null ? null : payloadHash(input),
      now,
      inlineSubscribers: inlineSubscribers(body.to as Recipient[]),
      subscriberIds: [...new Set(body.to.filter((r): r is string => typeof r === 'string'))],
      job: { kind: JOB_KINDS.fanout, runAt: sendAt > now ? sendAt : null },
    };
    const workflowKey = `${tenantId}\u0000${input.workflow}`;
    const lane = input.priority ?? this.lanes.get(workflowKey);
    // Known to be urgent: the workers' bulk lane steps aside until it is committed and announced.
    const arrived = lane === 'critical' || lane === 'high' ? this.signal.expectUrgent() : null;
    return new Promise<AcceptResult>((resolve, reject) => {
      this.queue.push({
        event,
        resolve: (result) => {
          arrived?.();
          if (result.ok && !result.duplicate && input.priority === undefined)
            this.learn(workflowKey, result.lane);
          resolve(result);
        },
        reject: (error) => {
          arrived?.();
          reject(error);
        },
      });
      if (this.queue.length >= this.maxBatch) void this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private learn(workflowKey: string, lane: Lane): void {
    if (this.lanes.get(workflowKey) === lane) return;
    if (this.lanes.size >= MAX_KNOWN_LANES) this.lanes.clear();
    this.lanes.set(workflowKey, lane);
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    await this.commit(batch);
  }

  /**
   * Commits `batch` as one transaction. Events were validated one by one before they got here,
   * but if the shared commit still fails for a reason of its own (not "the store is
   * unavailable"), one event may be failing everyone else's: the halves are committed apart,
   * down to single events, so only the culprit answers with an error. Each culprit costs about
   * 2·log2(batch) extra commits; a batch without one costs nothing more. An unavailable store
   * fails the whole batch at once (503), as retrying it piecemeal would only be slower.
   */
  private async commit(batch: Pending[]): Promise<void> {
    let results: AcceptResult[];
    try {
      results = await this.store.acceptEvents(
        batch.map((p) => p.event),
        IDEMPOTENCY_WINDOW_MS,
      );
    } catch (error) {
      if (batch.length === 1 || isStoreUnavailable(error)) {
        for (const pending of batch) pending.reject(error);
        return;
      }
      const middle = batch.length >> 1;
      await this.commit(batch.slice(0, middle));
      await this.commit(batch.slice(middle));
      return;
    }
    // Only the lanes of what was queued: a worker's bulk lane holds back for critical and high
    // wake-ups, not for every accepted batch. Sent before the urgent accepts count as arrived, so
    // a worker on this thread holds on; one on another thread may see the count drop a moment
    // before the wake-up reaches it, and lets one bulk step through.
    notifyLanes(
      this.signal,
      results.map((result) => (result.ok && !result.duplicate ? result : null)),
    );
    for (const [i, pending] of batch.entries()) pending.resolve(results[i]!);
  }
}
