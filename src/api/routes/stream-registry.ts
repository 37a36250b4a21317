/** Whether a new stream may open (StreamRegistry.admits), and if not, whose limit it met. */
export type StreamAdmission = 'open' | 'tenant_busy' | 'full';

/**
 * The open realtime streams of this process, grouped by owner (a tenant's subscriber), at most
 * `perOwner` each: adding one more closes that owner's oldest. Bounds what one token (or many
 * tokens of one subscriber) can hold open. Per process: with several API processes, each keeps
 * its own count.
 *
 * Across owners, at most `total` streams are open (each holds a socket, and with it a file
 * descriptor, for hours). Tenants share them this way: while fewer than three quarters are in
 * use, any tenant may open more; beyond that, only a tenant holding less than a quarter — so one
 * tenant (or a few) can never take the streams of the others, yet a lone tenant can use most.
 */
export class StreamRegistry<S> {
  // Sets keep insertion order: the first stream of an owner's set is its oldest.
  private readonly byOwner = new Map<string, Set<S>>();
  private readonly byTenant = new Map<string, number>();
  private size = 0;

  constructor(
    private readonly perOwner: number,
    private readonly close: (stream: S) => void,
    private readonly total = Number.POSITIVE_INFINITY,
  ) {}

  /** Whether `owner` (of `tenant`) may open one more stream now; a replacement always may. */
  admits(tenant: string, owner: string): StreamAdmission {
    if (this.count(owner) >= this.perOwner) return 'open';
    if (this.size >= this.total) return 'full';
    const busy = this.size >= Math.floor((this.total * 3) / 4);
    const held = this.byTenant.get(tenant) ?? 0;
    return busy && held > 0 && held >= Math.max(1, Math.floor(this.total / 4)) ? 'tenant_busy' : 'open';
  }

  /** Registers an open stream; answers the function to call once it has closed. */
  add(tenant: string, owner: string, stream: S): () => void {
    let streams = this.byOwner.get(owner);
    if (!streams) {
      streams = new Set();
      this.byOwner.set(owner, streams);
    }
    streams.add(stream);
    this.counted(tenant, 1);
    while (streams.size > this.perOwner) {
      const oldest = streams.values().next().value as S;
      streams.delete(oldest);
      this.counted(tenant, -1);
      this.close(oldest);
    }
    const own = streams;
    return () => {
      if (!own.delete(stream)) return;
      this.counted(tenant, -1);
      if (own.size === 0 && this.byOwner.get(owner) === own) this.byOwner.delete(owner);
    };
  }

  /** How many streams `owner` holds open. */
  count(owner: string): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  /** Closes every stream (with `close` instead of the usual way when given: a shutdown says so). */
  closeAll(close: (stream: S) => void = this.close): void {
    for (const streams of this.byOwner.values()) for (const stream of streams) close(stream);
  }

  private counted(tenant: string, by: number): void {
    this.size += by;
    const held = (this.byTenant.get(tenant) ?? 0) + by;
    if (held > 0) this.byTenant.set(tenant, held);
    else this.byTenant.delete(tenant);
  }
}
