/**
 * The retry budget of one integration, as pure functions of its state and `now`: over the last
 * `windowMs`, retries (sends on a message's second or later attempt) may be at most `ratio` of
 * the first tries, plus `floor` retries whatever the traffic. So an outage adds at most 20 % to
 * the load a provider sees — its clients' retries cannot pile onto it as it recovers — while a
 * quiet integration may still retry its few messages. A retry over budget is not made: the
 * pipeline tries the next integration, or waits (that wait is no attempt).
 */

export interface RetryBudgetSettings {
  windowMs: number;
  ratio: number;
  floor: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetSettings = Object.freeze({
  windowMs: 10_000,
  ratio: 0.2,
  floor: 10,
});

/** Sends per second of the window, oldest first. */
export interface RetryBudget {
  readonly seconds: readonly { at: number; firsts: number; retries: number }[];
}

export const FRESH_BUDGET: RetryBudget = Object.freeze({ seconds: Object.freeze([]) });

/**
 * Counts one send, if the budget allows it: first tries always go (and grow the budget); a retry
 * goes only while the window's retries are under `floor + ratio × first tries`.
 */
export function spend(
  budget: RetryBudget,
  isRetry: boolean,
  now: number,
  settings: RetryBudgetSettings,
): { budget: RetryBudget; allowed: boolean } {
  const second = Math.floor(now / 1000) * 1000;
  const seconds = budget.seconds.filter((s) => s.at > now - settings.windowMs);
  let firsts = 0;
  let retries = 0;
  for (const s of seconds) {
    firsts += s.firsts;
    retries += s.retries;
  }
  if (isRetry && retries >= settings.floor + settings.ratio * firsts)
    return { budget: { seconds }, allowed: false };
  const last = seconds[seconds.length - 1];
  const counted =
    last?.at === second
      ? {
          at: second,
          firsts: last.firsts + (isRetry ? 0 : 1),
          retries: last.retries + (isRetry ? 1 : 0),
        }
      : { at: second, firsts: isRetry ? 0 : 1, retries: isRetry ? 1 : 0 };
  return {
    budget: { seconds: last?.at === second ? [...seconds.slice(0, -1), counted] : [...seconds, counted] },
    allowed: true,
  };
}
