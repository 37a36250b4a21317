import type { MessageRecord } from '../shared/model.ts';

/** What a stream needs of an inbox item to show it (see api/views.ts inboxItemView). */
export type InboxItemFields = Pick<
  MessageRecord,
  | 'id'
  | 'eventId'
  | 'subscriberId'
  | 'channel'
  | 'workflow'
  | 'content'
  | 'data'
  | 'eventAt'
  | 'seenAt'
  | 'readAt'
  | 'archivedAt'
  | 'snoozedUntil'
>;

/**
 * A new item as its commit logged it: its number in the subscriber's change log, whether it counts
 * as unread, and the item as the streams show it (inboxItemView), already as JSON — made once on
 * the thread that committed it, not once per stream on the thread that serves them all. A log is
 * numbered without holes (1, 2, 3…), so a stream that has sent up to `seq - 1` can send this one
 * without reading the log (session.ts); any other stream reads.
 */
export interface LoggedItem {
  seq: number;
  unread: boolean;
  /** `JSON.stringify(inboxItemView(item))`. */
  view: string;
}

/** Something changed in one subscriber's inbox; streams turn it into what their devices need. */
export type InboxChange =
  | { type: 'item.created'; tenantId: string; subscriberId: string; itemId: string; logged?: LoggedItem }
  | { type: 'item.updated'; tenantId: string; subscriberId: string; itemId: string }
  | { type: 'inbox.read-all' | 'inbox.seen-all'; tenantId: string; subscriberId: string }
  /**
   * The subscriber was erased: their open streams end (their tokens no longer hold), so none
   * lives on to show the inbox of a new subscriber given the same id, whose log starts again at 1.
   */
  | { type: 'subscriber.erased'; tenantId: string; subscriberId: string };

/**
 * Changes of other processes may have been lost (a relay's listener reconnected, or could not
 * read what it heard), for any subscriber: told once to every listener. A stream then checks
 * what a lost change would have told it — that its subscriber still holds (a lost erasure must
 * still end it), and what its log has that it has not sent.
 */
export interface FeedGap {
  type: 'feed.gap';
}

/** What a listener hears: a change of its subscriber's inbox, or a gap in what the feed heard. */
export type FeedNotice = InboxChange | FeedGap;

/**
 * Where a change came from: this thread ('local': relays carry it to the other threads and
 * processes), or another thread or process ('remote': relayed to us, or sent to the others by the
 * store write that made it, as an erasure's notice is — relays do not carry it again).
 */
export type FeedOrigin = 'local' | 'remote';

type Listener = (notice: FeedNotice) => void;
type Tap = (changes: readonly InboxChange[], origin: FeedOrigin) => void;

/**
 * Inbox changes of this process, by subscriber: the pipeline publishes new items, the inbox API
 * publishes read state, open streams (SSE) listen for their subscriber. Relays (worker threads,
 * PostgreSQL LISTEN/NOTIFY) tap every local change and publish others' as 'remote', so a
 * relayed change is never sent back out. Changes travel in batches (a delivery commit's new
 * items together): relays then cost one message per commit, not one per item.
 */
export class InboxFeed {
  /** By tenant, then subscriber: a broadcast looks up 10,000 subscribers, without making a key for each. */
  private readonly listeners = new Map<string, Map<string, Set<Listener>>>();
  private readonly taps = new Set<Tap>();

  /**
   * `audience` counts the streams open in this process, shared by its threads (see
   * {@link InboxFeed.createAudience}): a worker thread's feed has no listeners of its own, but
   * reads there whether the API thread's has any.
   */
  constructor(
    private readonly audience: Int32Array = InboxFeed.createAudience(),
    /**
     * Told when a listener or tap throws. The others are still called: one stream's failure must
     * not keep a change from the rest, nor fail the delivery that published it (its rows are
     * committed by then, and a retry would only publish again).
     */
    private readonly onListenerError: (error: unknown) => void = (error) =>
      process.emitWarning(`an inbox feed listener failed: ${String(error)}`),
  ) {}

  /** The shared counter, for a worker thread's feed. */
  get audienceCounter(): Int32Array {
    return this.audience;
  }

  /** A counter of open streams that the feeds of one process's threads share. */
  static createAudience(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  }

  /**
   * Whether any stream of this process listens now. A delivery makes what streams show of its new
   * items (LoggedItem) only then: a broadcast nobody watches pays nothing for it, and a stream
   * that opens a moment later reads the log, as it does for any ring without the item.
   */
  hasAudience(): boolean {
    return Atomics.load(this.audience, 0) > 0;
  }

  publish(changes: readonly InboxChange[], origin: FeedOrigin = 'local'): void {
    if (changes.length === 0) return;
    for (const tap of this.taps) this.guarded(() => tap(changes, origin));
    if (this.listeners.size === 0) return;
    let tenantId: string | null = null;
    let ofTenant: Map<string, Set<Listener>> | undefined;
    for (const change of changes) {
      if (change.tenantId !== tenantId) {
        tenantId = change.tenantId;
        ofTenant = this.listeners.get(tenantId);
      }
      const listeners = ofTenant?.get(change.subscriberId);
      if (listeners) for (const listener of listeners) this.guarded(() => listener(change));
    }
  }

  /**
   * Tells every listener that changes may have been lost ({@link FeedGap}): called by a relay,
   * never on a timer. Taps are not told: the relays that tap a feed carry its own changes out,
   * and those were not lost. With `only`, just that subscriber's listeners are told: a change of
   * theirs may or may not have happened (an erasure whose commit's answer was lost).
   */
  gap(only?: { tenantId: string; subscriberId: string }): void {
    const notice: FeedGap = { type: 'feed.gap' };
    if (only) {
      const set = this.listeners.get(only.tenantId)?.get(only.subscriberId);
      if (set) for (const listener of set) this.guarded(() => listener(notice));
      return;
    }
    for (const ofTenant of this.listeners.values())
      for (const set of ofTenant.values()) for (const listener of set) this.guarded(() => listener(notice));
  }

  private guarded(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.onListenerError(error);
    }
  }

  /** Calls `listener` with every change of one subscriber's inbox; answers how to stop. */
  subscribe(tenantId: string, subscriberId: string, listener: Listener): () => void {
    let ofTenant = this.listeners.get(tenantId);
    if (!ofTenant) {
      ofTenant = new Map();
      this.listeners.set(tenantId, ofTenant);
    }
    let set = ofTenant.get(subscriberId);
    if (!set) {
      set = new Set();
      ofTenant.set(subscriberId, set);
    }
    if (!set.has(listener)) {
      set.add(listener);
      Atomics.add(this.audience, 0, 1);
    }
    const tenant = ofTenant;
    return () => {
      if (!set.delete(listener)) return;
      Atomics.sub(this.audience, 0, 1);
      if (set.size > 0 || tenant.get(subscriberId) !== set) return;
      tenant.delete(subscriberId);
      if (tenant.size === 0 && this.listeners.get(tenantId) === tenant) this.listeners.delete(tenantId);
    };
  }

  /** Sees every batch of changes, of every subscriber (relays use it); answers how to stop. */
  tap(tap: Tap): () => void {
    this.taps.add(tap);
    return () => this.taps.delete(tap);
  }
}
