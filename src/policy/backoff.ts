export interface BackoffOptions {
  /** Delay ceiling for the first retry, in ms. */
  baseMs: number;
  /** No delay is ever longer than this. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 1_000, capMs: 15 * 60_000 });

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(cap, base · 2^(attempt-1))).
 * Full jitter spreads a burst of failures out instead of retrying them in lockstep.
 *
 * @param attempt the attempt that just failed, from 1.
 * @example
 * retryDelay(3, { baseMs: 1000, capMs: 60000 }, () => 0.5); // 2000
 */
export function retryDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52);
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
