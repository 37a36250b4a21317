import { ApiError } from './errors.ts';

/**
 * Runs one tenant's calls of some expensive kind one at a time, with at most `maxWaiting` more
 * waiting their turn; past that a call is refused with 429 and `Retry-After`. Other tenants never
 * wait for them. (A preview renders on the API thread: ten at once from one tenant held another
 * tenant's request 20 s; in turns, with the renders yielding between steps, they do not.)
 */
export class TenantTurns {
  private readonly queues = new Map<string, { tail: Promise<void>; size: number }>();

  constructor(
    private readonly what: string,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    const queue = this.queues.get(tenantId) ?? { tail: Promise.resolve(), size: 0 };
    if (queue.size > this.maxWaiting) {
      throw new ApiError(
        'rate_limited',
        `${this.maxWaiting + 1} ${this.what} of this tenant are already running or waiting; they run one at a time — retry in a moment`,
        [],
        { 'retry-after': '1' },
      );
    }
    queue.size++;
    this.queues.set(tenantId, queue);
    const turn = queue.tail.then(work);
    // The next call waits for this one however it ends.
    queue.tail = turn.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await turn;
    } finally {
      queue.size--;
      if (queue.size === 0) this.queues.delete(tenantId);
    }
  }
}
