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

  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}

/**
 * `store` with every method's failures classified: those `unavailable` recognises are thrown as
 * a StoreUnavailableError (the driver's error as its cause), the rest unchanged.
 */
export function classifyStoreErrors<T extends object>(store: T, unavailable: (error: unknown) => boolean): T {
  const translate = (error: unknown): never => {
    throw !isStoreUnavailable(error) && unavailable(error) ? new StoreUnavailableError(error) : error;
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
