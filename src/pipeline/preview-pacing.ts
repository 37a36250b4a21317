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
 * Whether a preview step gives the event loop back with a pause or one turn, decided per tenant:
 * after the tenant's own last step was slow. One tenant's slow previews used to make every other
 * tenant's previews pause too (one value for the whole thread). Only recent slow steps are kept,
 * oldest first, and dropped as they age: each took SLOW_STEP_MS of this thread, so no more than
 * SLOW_STEP_MEMORY_MS / SLOW_STEP_MS tenants are remembered however many preview.
 */
export class PreviewPacing {
  /** When each tenant's last step, a slow one, ended (the clock's ms), the oldest first. */
  private readonly slow = new Map<string, number>();

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Whether `tenantId`'s next step pauses first: its own last step was slow, and recent. */
  pausesBefore(tenantId: string): boolean {
    const endedAt = this.slow.get(tenantId);
    return endedAt !== undefined && this.clock() - endedAt < SLOW_STEP_MEMORY_MS;
  }

  /** Gives the event loop back before a step of `tenantId`: a pause after its slow step, else one turn. */
  giveBack(tenantId: string): Promise<void> {
    const pause = this.pausesBefore(tenantId);
    return new Promise((resolve) => (pause ? setTimeout(resolve, PAUSE_MS) : setImmediate(resolve)));
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
    if (ended - started >= SLOW_STEP_MS) this.slow.set(tenantId, ended);
    for (const [tenant, endedAt] of this.slow) {
      if (ended - endedAt < SLOW_STEP_MEMORY_MS) break;
      this.slow.delete(tenant);
    }
  }
}
