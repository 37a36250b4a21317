import type { CircuitRecord, CircuitStore } from '../store/port.ts';
import {
  type Admission,
  admit,
  type Breaker,
  type BreakerSettings,
  type Call,
  CLOSED,
  DEFAULT_BREAKER,
  recordCall,
  releaseProbe,
} from './circuit-breaker.ts';
import {
  DEFAULT_RETRY_BUDGET,
  FRESH_BUDGET,
  type RetryBudget,
  type RetryBudgetSettings,
  spend,
} from './retry-budget.ts';

/** Why a send may not use an integration now. */
export type Refusal = 'open' | 'probing' | 'retry_budget';

export type Permit = Extract<Admission, { admitted: true }>;

interface Entry {
  breaker: Breaker;
  budget: RetryBudget;
  /** The state last written to the store (`state|openedAt`), or null before the first write. */
  published: string | null;
  writing: boolean;
}

/**
 * The breakers and retry budgets of every integration this worker sends through, shared by all of
 * its concurrent sends (one instance per worker role: per process, or per worker thread).
 * Transitions are published to the store — only transitions, never per send — so the API, which
 * may run on another thread or process, shows them; a write that fails is tried again on the
 * next call.
 */
export class Circuits {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: Pick<CircuitStore, 'putCircuit'>,
    readonly settings: BreakerSettings = DEFAULT_BREAKER,
    private readonly budget: RetryBudgetSettings = DEFAULT_RETRY_BUDGET,
    private readonly onPublishError: (error: unknown) => void = () => undefined,
  ) {}

  /**
   * May a send use this integration now? A retry also needs room in the integration's retry
   * budget. A permit must be settled with `record` or `release`. `pastOpenCircuit`: the channel
   * has no integration left whose circuit lets the send through, so it goes anyway, as an
   * ordinary call (the budget still applies to a retry; the breaker learns nothing from it).
   */
  permit(
    tenantId: string,
    integrationId: string,
    isRetry: boolean,
    now: number,
    pastOpenCircuit = false,
  ): { permit: Permit } | { refused: Refusal } {
    const entry = this.entry(tenantId, integrationId);
    if (pastOpenCircuit) {
      const spent = spend(entry.budget, isRetry, now, this.budget);
      if (!spent.allowed) return { refused: 'retry_budget' };
      entry.budget = spent.budget;
      return { permit: { admitted: true, probe: false } };
    }
    if (isRetry && entry.breaker.state === 'closed') {
      const spent = spend(entry.budget, true, now, this.budget);
      if (!spent.allowed) return { refused: 'retry_budget' };
      const decided = admit(entry.breaker, now, this.settings);
      entry.budget = spent.budget;
      entry.breaker = decided.breaker;
      return { permit: decided.admission as Permit };
    }
    const wasOpen = entry.breaker.state === 'open';
    const decided = admit(entry.breaker, now, this.settings);
    entry.breaker = decided.breaker;
    this.publish(tenantId, integrationId, entry, now);
    if (!decided.admission.admitted)
      return { refused: wasOpen && entry.breaker.state === 'open' ? 'open' : 'probing' };
    // Probes are few by design: they spend no retry budget, and first tries count towards it.
    if (!isRetry) entry.budget = spend(entry.budget, false, now, this.budget).budget;
    return { permit: decided.admission };
  }

  /** A permitted send that was not made after all (it waits for a rate-limit slot instead). */
  release(tenantId: string, integrationId: string, permit: Permit): void {
    if (!permit.probe) return;
    const entry = this.entry(tenantId, integrationId);
    entry.breaker = releaseProbe(entry.breaker);
  }

  /** How the permitted send went. */
  record(tenantId: string, integrationId: string, permit: Permit, call: Call, now: number): void {
    const entry = this.entry(tenantId, integrationId);
    entry.breaker = recordCall(entry.breaker, call, permit, now, this.settings);
    this.publish(tenantId, integrationId, entry, now);
  }

  /** The breaker as it stands (for tests and diagnostics). */
  state(tenantId: string, integrationId: string): Breaker {
    return this.entries.get(key(tenantId, integrationId))?.breaker ?? CLOSED;
  }

  /** The integration was changed (a PUT): its old breaker and budget say nothing about the new one. */
  reset(tenantId: string, integrationId: string, now: number): void {
    const entry = this.entries.get(key(tenantId, integrationId));
    if (!entry || entry.breaker.state === 'closed') return;
    entry.breaker = CLOSED;
    entry.budget = FRESH_BUDGET;
    this.publish(tenantId, integrationId, entry, now);
  }

  private entry(tenantId: string, integrationId: string): Entry {
    const k = key(tenantId, integrationId);
    let entry = this.entries.get(k);
    if (!entry) {
      entry = { breaker: CLOSED, budget: FRESH_BUDGET, published: null, writing: false };
      this.entries.set(k, entry);
    }
    return entry;
  }

  /**
   * Writes the breaker's state when it differs from the last one written. The first write of an
   * integration in this worker happens at its first transition, or — so a restarted process does
   * not leave an old `open` standing — at its first recorded call.
   */
  private publish(tenantId: string, integrationId: string, entry: Entry, now: number): void {
    const { breaker } = entry;
    const signature = `${breaker.state}|${breaker.openedAt}`;
    if (entry.writing || signature === entry.published) return;
    if (entry.published === null && breaker.state === 'closed' && breaker.calls.length === 0) return;
    const record: CircuitRecord = {
      tenantId,
      integrationId,
      state: breaker.state,
      failures: breaker.failures,
      openedAt: breaker.openedAt,
      updatedAt: now,
    };
    entry.writing = true;
    this.store.putCircuit(record).then(
      () => {
        entry.writing = false;
        entry.published = signature;
        // It moved on while the write was in flight: write where it stands now.
        this.publish(tenantId, integrationId, entry, Math.max(now, Date.now()));
      },
      (error: unknown) => {
        entry.writing = false;
        this.onPublishError(error);
      },
    );
  }
}

function key(tenantId: string, integrationId: string): string {
  return `${tenantId}\u0000${integrationId}`;
}
