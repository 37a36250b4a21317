/**
 * The circuit breaker of one integration, as pure functions of its state and `now`: the pipeline
 * asks `admit` before a call and reports the call with `recordCall`; both answer the next state.
 *
 * - closed: every call goes. Over the last `window` calls (at least `minCalls` of them), a share
 *   of failures ≥ `failureRatio`, or a p90 latency above `slowCallMs`, opens it.
 * - open: no call goes until `coolDownMs` after it opened; then the next `admit` half-opens it.
 * - half_open: at most `probes` calls at a time go (the rest fail over as if it were open); the
 *   first probe that succeeds in time closes it with a clean window, the first that fails or is
 *   slow opens it again for another cool-down.
 *
 * A call admitted while the circuit was closed that finishes after it opened says nothing new:
 * it is ignored, so a burst of in-flight failures cannot stretch the cool-down.
 */

import type { CircuitState } from '../shared/model.ts';

export type { CircuitState };

export interface BreakerSettings {
  /** Calls remembered while closed. */
  window: number;
  /** Calls needed in the window before it may open (one early failure is no outage). */
  minCalls: number;
  /** Share of failures in the window that opens it (0.5 = half). */
  failureRatio: number;
  /** p90 latency above this opens it; a probe slower than this counts as failed. */
  slowCallMs: number;
  /** How long it stays open before a probe may go. */
  coolDownMs: number;
  /** Probes in flight at once while half-open. */
  probes: number;
}

export const DEFAULT_BREAKER: BreakerSettings = Object.freeze({
  window: 20,
  minCalls: 5,
  failureRatio: 0.5,
  slowCallMs: 10_000,
  coolDownMs: 30_000,
  probes: 3,
});

/** One finished call: whether the integration did its job, and how long it took. */
export interface Call {
  ok: boolean;
  latencyMs: number;
}

export interface Breaker {
  readonly state: CircuitState;
  /** The window, oldest first (closed only; emptied when it opens or closes). */
  readonly calls: readonly Call[];
  /** When it last opened; null while closed. */
  readonly openedAt: number | null;
  /** Failures that opened it (or, while closed, in the window). */
  readonly failures: number;
  readonly probesInFlight: number;
}

export const CLOSED: Breaker = Object.freeze({
  state: 'closed',
  calls: Object.freeze([]) as readonly Call[],
  openedAt: null,
  failures: 0,
  probesInFlight: 0,
});

/** Whether a call was let through, and as what: an ordinary call or a half-open probe. */
export type Admission = { admitted: false } | { admitted: true; probe: boolean };

/** May a call go now? Half-opens a breaker whose cool-down is over. */
export function admit(
  breaker: Breaker,
  now: number,
  settings: BreakerSettings,
): { breaker: Breaker; admission: Admission } {
  let current = breaker;
  if (current.state === 'closed') return { breaker: current, admission: { admitted: true, probe: false } };
  if (current.state === 'open') {
    if (now < reopensAt(current, settings)!) return { breaker: current, admission: { admitted: false } };
    current = { ...current, state: 'half_open', probesInFlight: 0 };
  }
  if (current.probesInFlight >= settings.probes) return { breaker: current, admission: { admitted: false } };
  return {
    breaker: { ...current, probesInFlight: current.probesInFlight + 1 },
    admission: { admitted: true, probe: true },
  };
}

/** A probe that was admitted but never made (the send waited for a rate-limit slot instead). */
export function releaseProbe(breaker: Breaker): Breaker {
  if (breaker.state !== 'half_open' || breaker.probesInFlight === 0) return breaker;
  return { ...breaker, probesInFlight: breaker.probesInFlight - 1 };
}

/** The state after `call` finished; `admission` is what `admit` said when it started. */
export function recordCall(
  breaker: Breaker,
  call: Call,
  admission: Extract<Admission, { admitted: true }>,
  now: number,
  settings: BreakerSettings,
): Breaker {
  if (admission.probe) {
    // A probe from an earlier half-open spell (the circuit reopened meanwhile) decides nothing.
    if (breaker.state !== 'half_open') return breaker;
    if (call.ok && call.latencyMs <= settings.slowCallMs) return CLOSED;
    return opened(now, 1);
  }
  if (breaker.state !== 'closed') return breaker;
  const calls = [...breaker.calls.slice(-(settings.window - 1)), call];
  // Counted in one pass, on every call of every send: no filtered or sorted copies.
  let failures = 0;
  let slow = 0;
  for (const c of calls) {
    if (!c.ok) failures++;
    if (c.latencyMs > settings.slowCallMs) slow++;
  }
  if (calls.length >= settings.minCalls) {
    if (failures >= settings.failureRatio * calls.length || p90Exceeds(calls.length, slow))
      return opened(now, failures);
  }
  return { ...breaker, calls, failures };
}

/** When an open breaker lets a probe go; null unless open. */
export function reopensAt(breaker: Breaker, settings: BreakerSettings): number | null {
  return breaker.state === 'open' && breaker.openedAt !== null
    ? breaker.openedAt + settings.coolDownMs
    : null;
}

function opened(now: number, failures: number): Breaker {
  return { state: 'open', calls: CLOSED.calls, openedAt: now, failures, probesInFlight: 0 };
}

/**
 * Whether the p90 (nearest rank, as {@link p90}) of `n` calls is above the limit, knowing that
 * `slow` of them are: the rank-⌈0.9n⌉ latency is above it when fewer than ⌈0.9n⌉ calls are not.
 */
export function p90Exceeds(n: number, slow: number): boolean {
  return n - slow < Math.ceil(0.9 * n);
}

/** The 90th percentile latency (nearest rank). */
export function p90(calls: readonly Call[]): number {
  if (calls.length === 0) return 0;
  const sorted = calls.map((c) => c.latencyMs).sort((a, b) => a - b);
  return sorted[Math.ceil(0.9 * sorted.length) - 1]!;
}
