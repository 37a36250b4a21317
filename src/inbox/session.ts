import type { InboxCatchUp, Store } from '../store/port.ts';
import { itemCreatedEvent } from './event-text.ts';
import type { InboxChange, InboxFeed, InboxItemFields } from './feed.ts';
import { inboxItemView } from './item-view.ts';
import type { InboxReader } from './reader.ts';

/** The events of the realtime inbox (API.md "Inbox"), the same on SSE and WebSocket. */
export type InboxEvent =
  | {
      type: 'ready';
      unreadCount: number;
      /**
       * Only when the client asked to resume (`after`): whether what it missed is replayed. False
       * when the log no longer holds it (kept min(7 days, retention)): it starts from now, and the
       * client reloads its list.
       */
      resumed?: boolean;
    }
  | { type: 'item.created' | 'item.updated'; id: string; item: unknown; unreadCount: number }
  | { type: 'inbox.read-all' | 'inbox.seen-all'; id: string; unreadCount: number };

type LoggedChange = InboxCatchUp['changes'][number];

/**
 * The event made from a logged change, kept on the change: streams of one subscriber at the same
 * point share a read (see reader.ts) and so its events, made once (and, on the WebSocket, serialised
 * once). A property rather than a WeakMap: a broadcast makes 10,000 of them at once, and weak
 * entries cost the garbage collector far more than a field.
 */
const MADE = Symbol('inbox event');
type WithEvent = LoggedChange & {
  [MADE]?: { view: (item: InboxItemFields) => unknown; event: InboxEvent | null };
};
/** The same for a new item that came with its ring (streams of one subscriber share the ring). */
type RungWithEvent = InboxChange & { [MADE]?: { unreadCount: number; event: InboxEvent } };

export interface InboxSessionOptions {
  store: Pick<Store, 'countUnread' | 'lastInboxChange' | 'firstInboxChange'>;
  feed: InboxFeed;
  /** Reads the log for the streams the same ring woke, together. */
  reader: InboxReader;
  tenantId: string;
  subscriberId: string;
  /** The last event id the client saw (`Last-Event-ID` / `?after=`), or null for "from now on". */
  after: number | null;
  /**
   * How an inbox item looks on the wire. New items that come with their ring are already made
   * with {@link inboxItemView}: a session with another view reads them.
   */
  view: (item: InboxItemFields) => unknown;
  /** Writes one event to the client (in order). */
  send: (event: InboxEvent) => void;
  onError: (error: unknown) => void;
  /** The subscriber was erased (in any process): end the connection; the session has stopped. */
  onErased: () => void;
  /**
   * After a gap in the feed, whether the subscriber still holds could not be checked (the store
   * failed): end the connection, so the client reconnects and is authenticated afresh; the
   * session has stopped. Left open, the stream might outlive an erasure the gap hid.
   */
  onUnverified: () => void;
  /**
   * Whether the stream's subscriber (as its token names it) still exists: asked once listening,
   * so an erasure that committed while the stream was being set up (its notice published before
   * the session listened) ends it too; and asked again after every gap in the feed (FeedGap), so
   * an erasure whose notice was lost between processes ends it as well.
   */
  stillHolds?: () => Promise<boolean>;
  /**
   * How long a check after a gap may take ({@link VERIFY_TIMEOUT_MS}): one unanswered by then
   * ends the stream as a failed one does (onUnverified), rather than keep it silent.
   */
  verifyTimeoutMs?: number;
}

export interface InboxSession {
  /** Stops listening. */
  close(): void;
}

/** A log id from a client: a whole number of at most 15 digits, else null. */
export function parseEventId(value: string | undefined): number | null | 'invalid' {
  if (value === undefined || value === '') return null;
  return /^\d{1,15}$/.test(value) ? Number(value) : 'invalid';
}

/**
 * How long a stream counts on the unread count its last read found, moving it by the new items it
 * sends from their rings. Every change a subscriber makes is logged (and so breaks the run of log
 * numbers, making the stream read), but the retention sweep and an erasure remove unread items
 * without a log entry: past this, the next ring reads the count again, so a count never lags such
 * a removal by longer.
 */
const UNREAD_TRUSTED_MS = 60_000;

/** See {@link InboxSessionOptions.verifyTimeoutMs}: a hung query must not keep streams silent forever. */
export const VERIFY_TIMEOUT_MS = 10_000;

/**
 * One client's view of a subscriber's inbox, resumable without gaps or duplicates. The store's
 * change log is the only source of events: the in-process feed (and the PostgreSQL relay behind
 * it) is only a doorbell saying "this subscriber's log grew". The session listens for the doorbell
 * first, then reads where to start, sends `ready`, and reads the log after the client's last id
 * — the replay — and again after its own last id at every ring. Whatever committed while it was
 * replaying is read by the next round, and an id at or below the last one sent is never read
 * again: no gap across the switch from replay to live, and no duplicate. Rings lost between
 * processes (a listener reconnecting) are made up when the relay is back: the feed tells every
 * stream of the gap, and each checks its subscriber still holds and reads. The reads go through
 * the process's {@link InboxReader}, which reads for every stream the same ring woke at once.
 */
export async function openInboxSession(options: InboxSessionOptions): Promise<InboxSession> {
  const { store, tenantId, subscriberId, send } = options;
  let cursor = 0;
  let started = false;
  let closed = false;
  let running: Promise<void> | null = null;
  let again = false;
  /**
   * The unread count as of `cursor` exactly, or null when not known: a read whose page ended the
   * log sets it (the store reads the page and the count in one snapshot), a new item sent from its
   * ring moves it; a page cut at the limit leaves it unknown until the next read.
   */
  let unread: number | null = null;
  /** When a read last set `unread` (see UNREAD_TRUSTED_MS). */
  let unreadReadAt = 0;
  /** Checks after a gap still unanswered (see resync): the stream sends nothing meanwhile. */
  let verifying = 0;
  /** Told when no check is out any more (opening waits for it before `ready`). */
  let whenVerified: (() => void)[] = [];
  const verified = () =>
    verifying === 0 ? Promise.resolve() : new Promise<void>((resolve) => whenVerified.push(resolve));

  const event = (logged: LoggedChange, unreadCount: number): InboxEvent | null => {
    const known = (logged as WithEvent)[MADE];
    if (known && known.view === options.view) return known.event;
    const { change, item } = logged;
    const id = String(change.seq);
    let next: InboxEvent | null;
    if (change.type === 'inbox.read-all' || change.type === 'inbox.seen-all')
      next = { type: change.type, id, unreadCount };
    // Gone since (erased), or never this subscriber's: nothing to show, the id is passed over.
    else if (!item || item.subscriberId !== subscriberId || item.channel !== 'in_app') next = null;
    else next = { type: change.type, id, item: options.view(item), unreadCount };
    (logged as WithEvent)[MADE] = { view: options.view, event: next };
    return next;
  };

  /** Sends everything logged after `cursor`, a page at a time; one round at a time. */
  const pump = () => {
    if (!started || closed) return;
    if (running || verifying > 0) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        for (;;) {
          // Every event of a page carries the unread count as it stood when the page was read.
          const { changes, unreadCount } = await options.reader.read(tenantId, subscriberId, cursor);
          const ended = changes.length < options.reader.limit;
          unread = ended ? unreadCount : null;
          unreadReadAt = Date.now();
          if (changes.length === 0 || closed) break;
          // A gap's check began while this was read: send nothing before it answers (resync).
          if (verifying > 0) {
            again = true;
            break;
          }
          for (const logged of changes) {
            const next = event(logged, unreadCount);
            cursor = logged.change.seq;
            if (next) send(next);
          }
          if (ended) break;
        }
      } while (again && !closed && verifying === 0);
    })()
      .catch(options.onError)
      .finally(() => {
        running = null;
        if (again) pump();
      });
  };

  /**
   * Sends a new item straight from its ring when nothing can be missing before it: the stream has
   * sent up to the change just before it (the log has no holes), is not reading, and knows the
   * unread count there. Anything else — a ring out of order or after a gap, one without the item
   * (another process, a read state change), a read in flight — reads the log as before.
   */
  const sendRung = (change: InboxChange): boolean => {
    if (change.type !== 'item.created' || !change.logged || options.view !== inboxItemView) return false;
    const { seq, unread: counts, view } = change.logged;
    if (!started || closed || running || verifying > 0 || unread === null || seq !== cursor + 1) return false;
    if (Date.now() - unreadReadAt > UNREAD_TRUSTED_MS) return false;
    const unreadCount = unread + (counts ? 1 : 0);
    const known = (change as RungWithEvent)[MADE];
    let next: InboxEvent;
    if (known && known.unreadCount === unreadCount) next = known.event;
    else {
      next = itemCreatedEvent(seq, view, unreadCount);
      (change as RungWithEvent)[MADE] = { unreadCount, event: next };
    }
    cursor = seq;
    unread = unreadCount;
    send(next);
    return true;
  };

  const stop = (then: () => void) => {
    if (closed) return;
    closed = true;
    unsubscribe();
    then();
  };
  const erased = () => stop(options.onErased);

  /**
   * After a gap (changes of other processes may have been lost): does the subscriber still hold —
   * a lost erasure ends the stream as the notice would have — and what did the log get meanwhile?
   * The read sends it, each event with the unread count as it stands. A check that fails ends the
   * stream rather than trusting it: the client reconnects, and its token is checked afresh.
   */
  const resync = () => {
    if (closed) return;
    if (!options.stillHolds) {
      pump();
      return;
    }
    // Until the check answers, nothing is sent: the log read could already be a new subscriber's
    // of the same id, created after an erasure whose notice was lost.
    verifying++;
    let answered = false;
    /** The first of the answer and the timeout counts; the other is ignored. */
    const answer = (then: () => void) => {
      if (answered) return;
      answered = true;
      clearTimeout(timeout);
      verifying--;
      then();
      if (verifying > 0) return;
      const waiting = whenVerified;
      whenVerified = [];
      for (const resolve of waiting) resolve();
    };
    const failed = (error: unknown) => {
      if (closed) return;
      options.onError(error);
      stop(options.onUnverified);
    };
    const limit = options.verifyTimeoutMs ?? VERIFY_TIMEOUT_MS;
    const timeout = setTimeout(
      () => answer(() => failed(new Error(`checking the subscriber still holds took over ${limit} ms`))),
      limit,
    );
    timeout.unref();
    options
      .stillHolds()
      .then(
        (holds) =>
          answer(() => {
            if (!holds) erased();
            else if (verifying === 0) pump();
          }),
        (error: unknown) => answer(() => failed(error)),
      )
      // A callback that throws (onErased closing a socket, say) is told, not left an unhandled
      // rejection, which ends the process.
      .catch(options.onError);
  };
  const unsubscribe = options.feed.subscribe(tenantId, subscriberId, (notice) => {
    if (notice.type === 'subscriber.erased') erased();
    else if (notice.type === 'feed.gap') resync();
    else if (!sendRung(notice)) pump();
  });
  // A gap's check can end the session while it opens (an erasure whose notice was lost): then
  // nothing more is read or sent.
  const ended: InboxSession = { close() {} };
  try {
    if (options.stillHolds && !(await options.stillHolds())) {
      erased();
      return ended;
    }
    if (closed) return ended;
    const last = await store.lastInboxChange(tenantId, subscriberId);
    if (closed) return ended;
    const { after } = options;
    // Changes are numbered one after another: the log holds all the client missed if its oldest
    // change still logged is the one right after `after`. An id from the future (another
    // installation, a log reset) missed nothing and resumes from now on.
    const first =
      after !== null && after < last ? await store.firstInboxChange(tenantId, subscriberId) : null;
    if (closed) return ended;
    const resumed = after === null ? undefined : after >= last || (first !== null && first <= after + 1);
    cursor = after === null || !resumed ? last : Math.min(after, last);
    // `ready` waits for a gap's check, as every other event does: the count could already be a
    // new subscriber's of the same id.
    let unreadCount: number;
    do {
      await verified();
      if (closed) return ended;
      unreadCount = await store.countUnread(tenantId, subscriberId);
      if (closed) return ended;
    } while (verifying > 0);
    send(resumed === undefined ? { type: 'ready', unreadCount } : { type: 'ready', unreadCount, resumed });
  } catch (error) {
    unsubscribe();
    throw error;
  }
  started = true;
  pump();
  return {
    close() {
      closed = true;
      unsubscribe();
    },
  };
}
