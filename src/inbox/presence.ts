import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { PresenceKey, PresenceStore } from '../store/port.ts';
import type { Logger } from '../telemetry/logger.ts';

/** How often this process extends its presence rows. */
export const PRESENCE_HEARTBEAT_MS = 10_000;
/** How long a row outlives its last heartbeat: a process that died stops counting within this. */
export const PRESENCE_TTL_MS = 30_000;

const keyOf = (tenantId: string, subscriberId: string) => `${tenantId}\u0000${subscriberId}`;

/**
 * Who has a live inbox connection in this process, published to the store for `skipIfOnline`
 * (workers in any thread or process read it there). The store holds one row per subscriber this
 * process serves, not one per connection, and one UPDATE extends them all on each heartbeat, so
 * 10,000 idle connections cost one small write every {@link PRESENCE_HEARTBEAT_MS}. Writes are made
 * one after another, so a quick connect-and-leave never leaves its row behind by racing.
 */
export class PresenceTracker {
  private readonly counts = new Map<string, { key: PresenceKey; n: number }>();
  private writes: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  /** This process's name in the presence rows (random: a restarted process never reuses one). */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly store: PresenceStore,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => {
      if (this.counts.size > 0)
        void this.write(() => this.store.refreshPresence(this.holder, this.now() + PRESENCE_TTL_MS));
    }, PRESENCE_HEARTBEAT_MS);
    this.timer.unref();
  }

  /**
   * Counts a connection of the subscriber; resolves once the store shows them online. Answers
   * the function to call when the connection ends.
   */
  async enter(tenantId: string, subscriberId: string): Promise<() => void> {
    const id = keyOf(tenantId, subscriberId);
    let entry = this.counts.get(id);
    if (!entry) {
      entry = { key: { tenantId, subscriberId }, n: 0 };
      this.counts.set(id, entry);
    }
    entry.n++;
    const key = entry.key;
    // Every connection waits for the row (a second one may come while the first one's is in flight).
    await this.write(() => this.store.holdPresence(this.holder, [key], this.now() + PRESENCE_TTL_MS));
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const current = this.counts.get(id);
      if (!current) return;
      current.n--;
      if (current.n > 0) return;
      this.counts.delete(id);
      void this.write(async () => {
        // Someone connected again meanwhile: their hold came after this release was queued; keep it.
        if (!this.counts.has(id)) await this.store.releasePresence(this.holder, [key]);
      });
    };
  }

  /** Whether this process holds a connection of the subscriber (tests, metrics). */
  holds(tenantId: string, subscriberId: string): boolean {
    return this.counts.has(keyOf(tenantId, subscriberId));
  }

  /** Drops every row of this process (at shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.counts.clear();
    await this.write(() => this.store.releasePresence(this.holder, null));
  }

  private write(action: () => Promise<void>): Promise<void> {
    this.writes = this.writes.then(action).catch((error: unknown) => {
      // A lost write is repaired by the next heartbeat (or expires): presence is a hint for push.
      this.logger.warn({ err: error }, 'writing inbox presence failed');
    });
    return this.writes;
  }
}
