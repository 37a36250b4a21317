import type { SendOutcome } from '../channels/port.ts';
import type { Circuits, Refusal } from '../providers/circuits.ts';
import type { ResolvedProvider } from '../providers/registry.ts';
import type { RateCounterStore } from '../store/port.ts';
import { throttledUntil } from './throttle.ts';

/** How one attempt of a send went, over the channel's integrations. */
export type FailoverResult =
  /** An integration answered about the message itself (accepted, refused, retry later…). */
  | { kind: 'answered'; via: ResolvedProvider; outcome: SendOutcome }
  /** The integration to use is over its rate limit: the send takes its slot at `until`. */
  | { kind: 'throttled'; via: ResolvedProvider; until: number }
  /**
   * No integration took the message. `tried`: some were called and said they are broken
   * (an attempt was made; retry with backoff). Otherwise none could be called (their retry
   * budgets are spent): the send waits until `until`, which is no attempt.
   */
  | { kind: 'unavailable'; tried: boolean; reason: string; until: number }
  /** `begin` said the message may no longer be sent (cancelled meanwhile): no provider was called. */
  | { kind: 'withdrawn' };

export interface FailoverInput {
  circuits: Circuits;
  store: Pick<RateCounterStore, 'reserveSendSlot'>;
  tenantId: string;
  /** The channel's integrations, in priority order. */
  candidates: readonly ResolvedProvider[];
  /** The integration that gave this message its last retryable answer: it goes last this time. */
  lastTried: string | null;
  /** A second or later attempt: it spends the integrations' retry budgets. */
  isRetry: boolean;
  /** Set when the send holds a reserved rate-limit slot of that integration. */
  slotOf: string | undefined;
  /**
   * Right before each call: records that the message goes to `via` (`after` says why earlier
   * integrations were passed over, for the timeline). False: the message may no longer be sent
   * (a cancel came first), and no call is made.
   */
  begin(via: ResolvedProvider, after: string): Promise<boolean>;
  /**
   * Makes the call. `leftQueue` goes to the adapter (OutboundMessage.leftQueue): the call is
   * timed for the breaker from when the adapter last says so, else from the call.
   */
  send(via: ResolvedProvider, leftQueue: () => void): Promise<SendOutcome>;
  now?: () => number;
}

/**
 * A send whose retry budgets are spent waits 1–10 s (the budget's window), spread at random so a
 * backlog of waiting retries comes back a few at a time rather than all at once.
 */
const MIN_WAIT_MS = 1000;
const WAIT_SPREAD_MS = 9000;

const REFUSALS: Record<Refusal, string> = {
  open: 'circuit open',
  probing: 'circuit half-open, probes in flight',
  retry_budget: 'retry budget spent',
};

/**
 * One attempt of a send: the integrations in priority order, each only if its circuit breaker
 * (and, for a retry, its retry budget) lets the call go. An integration whose circuit is open is
 * passed over at once, and one that answers that it is itself broken (connection refused,
 * credentials refused: `retryable` with `integrationFailed`) counts against its breaker and the
 * next one is tried within the same attempt — the message never pays for a broken integration.
 * Any other answer ends the attempt: the pipeline decides from it as before. Every call's
 * outcome and latency feed the breaker.
 *
 * Breakers choose among integrations; they never hold a message back by themselves: when every
 * circuit is open, the first integration passed over is called anyway, once, and its answer is
 * the attempt's (so the contract's retry schedule and dead letters stand, and the retry budget
 * keeps an outage from multiplying the load on it). Only a spent retry budget makes a send wait.
 */
export async function sendWithFailover(input: FailoverInput): Promise<FailoverResult> {
  const now = input.now ?? Date.now;
  const { circuits, tenantId } = input;
  const passed: string[] = [];
  let tried = false;
  const order = failoverOrder(input.candidates, input.lastTried);
  /** The first integration passed over for its circuit alone: the way out when no circuit lets the send through. */
  let lastResort: ResolvedProvider | null = null;
  let resortQueued = false;
  for (let i = 0; i < order.length; i++) {
    const via = order[i]!;
    const id = via.integrationId;
    const pastOpenCircuit = via === lastResort;
    const decision = circuits.permit(tenantId, id, input.isRetry, now(), pastOpenCircuit);
    if ('refused' in decision) {
      passed.push(`${id}: ${REFUSALS[decision.refused]}`);
      if (decision.refused !== 'retry_budget') lastResort ??= via;
      // No circuit let the send through and none was called: the breakers pick among
      // integrations, they never hold a message back on their own. It goes to the first one
      // passed over, once; its answer decides this attempt (the message's backoff and the retry
      // budget bound the load on a provider that is down).
      if (i === order.length - 1 && !tried && lastResort && !resortQueued) {
        order.push(lastResort);
        resortQueued = true;
      }
      continue;
    }
    if (input.slotOf !== id) {
      const until = await throttledUntil(input.store, tenantId, via, now()).catch((error: unknown) => {
        circuits.release(tenantId, id, decision.permit);
        throw error;
      });
      if (until !== null) {
        circuits.release(tenantId, id, decision.permit);
        return { kind: 'throttled', via, until };
      }
    }
    const after = pastOpenCircuit
      ? `${passed.join('; ')}; no circuit lets it through: tried anyway`
      : passed.join('; ');
    // A store error here is the send's own (its job runs again), not the integration's.
    const go = await input.begin(via, after).catch((error: unknown) => {
      circuits.release(tenantId, id, decision.permit);
      throw error;
    });
    if (!go) {
      circuits.release(tenantId, id, decision.permit);
      return { kind: 'withdrawn' };
    }
    let started = now();
    let outcome: SendOutcome;
    try {
      outcome = await input.send(via, () => {
        started = now();
      });
    } catch (error) {
      outcome = { kind: 'retryable', reason: `provider error: ${(error as Error).message}` };
    }
    // A recipient the provider cannot take now (a full mailbox) is no fault of the provider's.
    const failed = outcome.kind === 'retryable' && !outcome.recipientOnly;
    circuits.record(tenantId, id, decision.permit, { ok: !failed, latencyMs: now() - started }, now());
    if (outcome.kind === 'retryable' && outcome.integrationFailed) {
      tried = true;
      passed.push(`${id}: ${outcome.reason}`);
      if (pastOpenCircuit) break;
      continue;
    }
    return { kind: 'answered', via, outcome };
  }
  const reason = `no ${input.candidates.length > 1 ? 'integration' : 'integration of the channel'} could take it (${passed.join('; ')})`;
  return {
    kind: 'unavailable',
    tried,
    reason,
    until: now() + MIN_WAIT_MS + Math.floor(Math.random() * WAIT_SPREAD_MS),
  };
}

/** Priority order, with the integration that just asked this message to retry moved to the end. */
export function failoverOrder<T extends Pick<ResolvedProvider, 'integrationId'>>(
  candidates: readonly T[],
  lastTried: string | null,
): T[] {
  if (lastTried === null || candidates.length < 2) return [...candidates];
  const last = candidates.filter((c) => c.integrationId === lastTried);
  return [...candidates.filter((c) => c.integrationId !== lastTried), ...last];
}
