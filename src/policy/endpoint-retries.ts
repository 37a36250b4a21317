/**
 * When an outbound status webhook (src/webhooks) is tried again after a failed attempt: a fixed
 * schedule that backs off from seconds to hours, so a receiver that is down for a deploy gets its
 * events within a minute and one that is down overnight still gets them — the last attempt is
 * made at most 23 h 42 min 35 s after the first. A jitter that shortens each delay by up to 10 %
 * keeps a burst of events that failed together from returning together (and never past the day).
 */
export const ENDPOINT_RETRY_DELAYS_MS: readonly number[] = Object.freeze([
  5_000,
  30_000,
  2 * 60_000,
  10 * 60_000,
  30 * 60_000,
  60 * 60_000,
  2 * 60 * 60_000,
  4 * 60 * 60_000,
  8 * 60 * 60_000,
  8 * 60 * 60_000,
]);

/** The first attempt and one per delay of the schedule. */
export const ENDPOINT_MAX_ATTEMPTS = ENDPOINT_RETRY_DELAYS_MS.length + 1;

/** A receiver's `Retry-After` is honoured up to this; longer asks fall back to the schedule. */
export const ENDPOINT_MAX_RETRY_AFTER_MS = 60 * 60_000;

/**
 * The delay before the next attempt, after attempt `attempt` (from 1) failed; null once the
 * schedule is used up (the event is dead-lettered). A `retryAfterMs` the receiver asked for, up to
 * an hour, replaces the scheduled delay.
 */
export function endpointRetryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  random = Math.random,
): number | null {
  const scheduled = ENDPOINT_RETRY_DELAYS_MS[attempt - 1];
  if (scheduled === undefined) return null;
  if (retryAfterMs !== undefined && retryAfterMs <= ENDPOINT_MAX_RETRY_AFTER_MS) return retryAfterMs;
  return Math.round(scheduled * (1 - random() * 0.1));
}
