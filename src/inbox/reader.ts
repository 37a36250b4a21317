import type { InboxCatchUp, InboxCursor, Store } from '../store/port.ts';

/** Changes read per stream and round trip. */
export const CATCH_UP_PAGE = 200;
/** Streams read per statement: a 10,000-stream broadcast is sent in slices, not after one long read. */
const STREAMS_PER_READ = 500;

interface Waiter {
  cursor: InboxCursor;
  resolve: (page: InboxCatchUp) => void;
  reject: (error: unknown) => void;
}

/**
 * Reads what open streams have to send next, for all streams woken together at once. A broadcast
 * to a topic rings every open stream of this process in the same moment (one feed batch); each
 * asking the store on its own cost three reads per stream, and for 10,000 streams that was most
 * of the second between the commit and the last client. Requests made in one turn of the event
 * loop are read in slices of {@link STREAMS_PER_READ} per tenant (one `catchUpInboxes` each), and
 * each slice's streams send before the next slice is read. Streams of one subscriber at the same
 * point share one read, and its result.
 */
export class InboxReader {
  private pending = new Map<string, Waiter[]>();
  private scheduled = false;

  constructor(
    private readonly store: Pick<Store, 'catchUpInboxes'>,
    /** Changes per stream and read: fewer means the stream has read everything there was. */
    readonly limit = CATCH_UP_PAGE,
  ) {}

  /** The subscriber's next changes after `afterSeq` (at most a page) and their unread count now. */
  read(tenantId: string, subscriberId: string, afterSeq: number): Promise<InboxCatchUp> {
    return new Promise((resolve, reject) => {
      let waiters = this.pending.get(tenantId);
      if (!waiters) {
        waiters = [];
        this.pending.set(tenantId, waiters);
      }
      waiters.push({ cursor: { subscriberId, afterSeq }, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    for (const [tenantId, waiters] of pending) {
      for (let start = 0; start < waiters.length; start += STREAMS_PER_READ) {
        const slice = waiters.slice(start, start + STREAMS_PER_READ);
        // One cursor per (subscriber, point): a subscriber's phone and laptop usually stand together.
        const index = new Map<string, number>();
        const cursors: InboxCursor[] = [];
        const at = slice.map(({ cursor }) => {
          const key = `${cursor.subscriberId}\u0000${cursor.afterSeq}`;
          let i = index.get(key);
          if (i === undefined) {
            i = cursors.push(cursor) - 1;
            index.set(key, i);
          }
          return i;
        });
        try {
          const pages = await this.store.catchUpInboxes(tenantId, cursors, this.limit);
          for (const [i, waiter] of slice.entries()) waiter.resolve(pages[at[i]!]!);
        } catch (error) {
          for (const waiter of slice) waiter.reject(error);
        }
        // Let this slice's streams write to their sockets before the next slice is read.
        if (start + STREAMS_PER_READ < waiters.length) await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
}
