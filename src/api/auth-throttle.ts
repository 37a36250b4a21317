/**
 * Counts failed authentication attempts per client address, so that guessing keys is slow:
 * after `limit` failures within `windowMs`, further *failed* attempts from that address are
 * answered 429 until the window ends. It never sees successful attempts (a valid credential is
 * never throttled) and remembers at most `maxAddresses` addresses, forgetting the least recently
 * failing first, so a flood from many addresses cannot grow it without bound.
 *
 * Pure bookkeeping: the caller passes `now`.
 */
export interface AuthThrottleOptions {
  limit: number;
  windowMs: number;
  maxAddresses: number;
}

export const DEFAULT_AUTH_THROTTLE: AuthThrottleOptions = {
  limit: 100,
  windowMs: 60_000,
  maxAddresses: 10_000,
};

interface Window {
  startedAt: number;
  failures: number;
}

export class AuthThrottle {
  // A Map keeps insertion order: re-inserting on each failure makes its first key the least recent.
  private readonly windows = new Map<string, Window>();

  constructor(private readonly options: AuthThrottleOptions = DEFAULT_AUTH_THROTTLE) {}

  /**
   * Records one failed attempt from `address`. Answers null while the address is within its
   * allowance, else the seconds until its window ends (for `Retry-After`).
   */
  fail(address: string, now: number): number | null {
    const { limit, windowMs, maxAddresses } = this.options;
    let window = this.windows.get(address);
    if (window) this.windows.delete(address);
    if (!window || now - window.startedAt >= windowMs) window = { startedAt: now, failures: 0 };
    window.failures++;
    this.windows.set(address, window);
    if (this.windows.size > maxAddresses) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
    if (window.failures <= limit) return null;
    return Math.max(1, Math.ceil((window.startedAt + windowMs - now) / 1000));
  }

  /** How many addresses are remembered (for tests of the memory bound). */
  get size(): number {
    return this.windows.size;
  }
}
