/**
 * "The store cannot be reached or is busy right now", as opposed to "this request is wrong": the
 * API answers it with 503 and Retry-After, and workers run the job again soon without counting
 * the attempt. Only a store decides it (each adapter knows its driver's errors: see
 * classifyStoreErrors); every other error a store throws is an ordinary one, and a job that hits
 * it spends an attempt. (Deciding it outside the store, from codes, took PostgreSQL's 08P01 —
 * a protocol violation such as a wrong bind count — for an outage: such a job retried every
 * second, forever, its attempt refunded each time.)
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  /** The driver's code (SQLITE_BUSY, 57P01, ECONNREFUSED…), kept for logs and readiness. */
  readonly code: string | undefined;

  constructor(
    cause: unknown,
    readonly why: Unavailability = 'busy',
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/**
 * Why the store cannot take work now: `busy` (locked past the timeout, unreachable, restarting)
 * or `out_of_space` (its disk is full: nothing is wrong with the request or the job, and both
 * go through once an operator frees space, so neither is refused for good nor spends an attempt).
 */
export type Unavailability = 'busy' | 'out_of_space';

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}

/**
 * `store` with every method's failures classified: those `unavailable` recognises are thrown as
 * a StoreUnavailableError saying why (the driver's error as its cause), the rest unchanged.
 */
export function classifyStoreErrors<T extends object>(
  store: T,
  unavailable: (error: unknown) => Unavailability | null,
): T {
  const translate = (error: unknown): never => {
    if (isStoreUnavailable(error)) throw error;
    const why = unavailable(error);
    throw why ? new StoreUnavailableError(error, why) : error;
  };
  const classified: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(store)) {
    if (typeof value !== 'function') {
      classified[name] = value;
      continue;
    }
    classified[name] = (...args: unknown[]) => {
      let result: unknown;
      try {
        result = value.apply(store, args);
      } catch (error) {
        return translate(error);
      }
      return result instanceof Promise ? result.catch(translate) : result;
    };
  }
  return classified as T;
}

/**
 * Runs `write` again while the store is unavailable, with backoff from 50 ms, until `giveUpAfterMs`
 * has passed (then the last error is thrown). For writes that must not be lost to an outage of a
 * few seconds: the result of a provider call that already happened.
 */
export async function retryWhileUnavailable<T>(write: () => Promise<T>, giveUpAfterMs: number): Promise<T> {
  const giveUpAt = Date.now() + giveUpAfterMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isStoreUnavailable(error) || Date.now() >= giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
}
