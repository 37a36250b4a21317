import type { MessageUpdate, MessageUpdateOf, Store } from '../store/port.ts';

interface Pending {
  item: MessageUpdateOf;
  resolve(changed: boolean): void;
  reject(error: unknown): void;
}

/** Updates per transaction at most: a commit stays short, and other writers get their turn. */
const MAX_PER_COMMIT = 512;

/**
 * Coalesces the send path's message writes: every status change asked for in one turn of the
 * event loop — a batch's `sending` records, the outcomes of provider answers that arrived
 * together — goes to the store as one transaction (`updateMessages`), one commit instead of one
 * per message. A push broadcast made two commits per device before; now it makes a few per batch.
 *
 * Every caller still awaits its own write, so nothing about ordering or durability changes: a
 * provider is called only once that message's `sending` record is committed, and a job completes
 * only once its outcome is. A transaction that fails fails each of its sends, which are retried.
 */
export class MessageWrites {
  private queued: Pending[] = [];
  private scheduled = false;

  constructor(private readonly store: Pick<Store, 'updateMessages'>) {}

  /** Applies `update` to the message (as `updateMessage` does); answers false if the message is gone. */
  write(tenantId: string, id: string, update: MessageUpdate): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queued.push({ item: { tenantId, id, update }, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O callbacks of this turn: answers read together are written together.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.queued;
    this.queued = [];
    for (let i = 0; i < all.length; i += MAX_PER_COMMIT) void this.commit(all.slice(i, i + MAX_PER_COMMIT));
  }

  private async commit(chunk: Pending[]): Promise<void> {
    try {
      const changed = await this.store.updateMessages(chunk.map((p) => p.item));
      for (const [i, p] of chunk.entries()) p.resolve(changed[i] ?? false);
    } catch (error) {
      // Not tried again here: a commit whose outcome is unknown could queue a follow-up twice.
      // Each send fails as it did when its own write failed, and its job is retried.
      for (const p of chunk) p.reject(error);
    }
  }
}
