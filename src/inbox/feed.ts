/** Something changed in one subscriber's inbox; streams turn it into what their devices need. */
export type InboxChange =
  | { type: 'item.created' | 'item.updated'; tenantId: string; subscriberId: string; itemId: string }
  | { type: 'inbox.read-all' | 'inbox.seen-all'; tenantId: string; subscriberId: string };

/** Where a change came from: this thread, or another thread or process (relayed to us). */
export type FeedOrigin = 'local' | 'remote';

type Listener = (change: InboxChange) => void;
type Tap = (changes: readonly InboxChange[], origin: FeedOrigin) => void;

const keyOf = (tenantId: string, subscriberId: string) => `${tenantId}\u0000${subscriberId}`;

/**
 * Inbox changes of this process, by subscriber: the pipeline publishes new items, the inbox API
 * publishes read state, open streams (SSE) listen for their subscriber. Relays (worker threads,
 * PostgreSQL LISTEN/NOTIFY) tap every local change and publish others' as 'remote', so a
 * relayed change is never sent back out. Changes travel in batches (a delivery commit's new
 * items together): relays then cost one message per commit, not one per item.
 */
export class InboxFeed {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly taps = new Set<Tap>();

  publish(changes: readonly InboxChange[], origin: FeedOrigin = 'local'): void {
    if (changes.length === 0) return;
    for (const tap of this.taps) tap(changes, origin);
    if (this.listeners.size === 0) return;
    for (const change of changes) {
      const listeners = this.listeners.get(keyOf(change.tenantId, change.subscriberId));
      if (listeners) for (const listener of listeners) listener(change);
    }
  }

  /** Calls `listener` with every change of one subscriber's inbox; answers how to stop. */
  subscribe(tenantId: string, subscriberId: string, listener: Listener): () => void {
    const key = keyOf(tenantId, subscriberId);
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  /** Sees every batch of changes, of every subscriber (relays use it); answers how to stop. */
  tap(tap: Tap): () => void {
    this.taps.add(tap);
    return () => this.taps.delete(tap);
  }
}
