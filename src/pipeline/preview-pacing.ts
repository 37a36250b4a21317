/** A step that took this long is followed by a pause, not just one turn of the event loop. */
export const SLOW_STEP_MS = 10;
/** The pause after a slow step (ms): a request needs a few turns of the event loop. */
export const PAUSE_MS = 10;
/**
 * How long a tenant's slow step is remembered (ms). The pause spaces that tenant's steps run
 * back to back (the next of its preview, or of its next preview queued in TenantTurns); a step a
 * second later follows an event loop that was free meanwhile.
 */
export const SLOW_STEP_MEMORY_MS = 1_000;

/**
 * How long a preview step gives the event loop back first. After a slow step of any tenant the
 * loop is left free for PAUSE_MS, so other requests get the few turns they need whoever previews
 * next (slow steps of two tenants back to back held a third tenant's GET again); after that, a
 * tenant's steps pause only while its own last step was slow and recent: one tenant's slow
 * previews no longer make every other tenant's previews pause too (one value for the whole thread
 * did). Only recent slow steps are kept, oldest first, and dropped as they age: each took
 * SLOW_STEP_MS of this thread, so no more than SLOW_STEP_MEMORY_MS / SLOW_STEP_MS tenants are
 * remembered however many preview.
 */
export class PreviewPacing {
  /** When each tenant's last step, a slow one, ended (the clock's ms), the oldest first. */
  private readonly slow = new Map<string, number>();
  /** Until when the event loop is left free after the last slow step of any tenant. */
  private freeUntil = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /**
   * The ms `tenantId`'s next step waits first: a whole pause after its own slow, recent step;
   * else what is left of the pause after the last slow step of any tenant; else 0 (one turn).
   */
  waitBefore(tenantId: string): number {
    const now = this.clock();
    const endedAt = this.slow.get(tenantId);
    if (endedAt !== undefined && now - endedAt < SLOW_STEP_MEMORY_MS) return PAUSE_MS;
    return Math.max(0, this.freeUntil - now);
  }

  /** Gives the event loop back before a step of `tenantId`: the wait above, or one turn. */
  giveBack(tenantId: string): Promise<void> {
    const wait = this.waitBefore(tenantId);
    return new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
  }

  /** Runs one step of `tenantId`, remembering whether it was slow. */
  step<T>(tenantId: string, render: () => T): T {
    const started = this.clock();
    try {
      return render();
    } finally {
      this.record(tenantId, started, this.clock());
    }
  }

  /** Tenants remembered (for tests of the bound). */
  get size(): number {
    return this.slow.size;
  }

  private record(tenantId: string, started: number, ended: number): void {
    // Deleted and set again, so the map stays in the order the steps ended.
    this.slow.delete(tenantId);
    if (ended - started >= SLOW_STEP_MS) {
      this.slow.set(tenantId, ended);
      this.freeUntil = ended + PAUSE_MS;
    }
    for (const [tenant, endedAt] of this.slow) {
      if (ended - endedAt < SLOW_STEP_MEMORY_MS) break;
      this.slow.delete(tenant);
    }
  }
}
