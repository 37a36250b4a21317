/**
 * A first-come, first-served count of sends allowed under way at once: an SMTP integration has one
 * slot per pooled connection, so a send holding a slot never waits in nodemailer's own queue, and
 * its deadline can start when it takes the slot (the wait for a connection is not the server's
 * doing). Waiting is unbounded; {@link SendSlots.close} ends every wait at once.
 *
 * ```ts
 * const slots = new SendSlots(5);
 * if (!(await slots.acquire())) return closedOutcome;
 * try { … } finally { slots.release(); }
 * ```
 */
export class SendSlots {
  private free: number;
  private closed = false;
  /** Who waits for a slot, oldest first: each is told true (the slot is theirs) or false (closed). */
  private readonly waiting: Array<(acquired: boolean) => void> = [];

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`slot count must be ≥ 1, not ${count}`);
    this.free = count;
  }

  /** Resolves true once a slot is the caller's (give it back with release()), false if closed first. */
  acquire(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives a slot back: straight to the longest waiter, if any. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.free++;
  }

  /** Refuses every waiter and every later acquire(); slots already held stay valid until released. */
  close(): void {
    this.closed = true;
    for (const refuse of this.waiting.splice(0)) refuse(false);
  }
}
