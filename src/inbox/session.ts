import type { MessageRecord } from '../shared/model.ts';
import type { InboxChangeRecord, Store } from '../store/port.ts';
import type { InboxFeed } from './feed.ts';

/** The events of the realtime inbox (API.md "Inbox"), the same on SSE and WebSocket. */
export type InboxEvent =
  | { type: 'ready'; unreadCount: number }
  | { type: 'item.created' | 'item.updated'; id: string; item: unknown; unreadCount: number }
  | { type: 'inbox.read-all' | 'inbox.seen-all'; id: string; unreadCount: number };

/** Changes read from the log per round trip. */
const PAGE = 200;

export interface InboxSessionOptions {
  store: Pick<Store, 'countUnread' | 'getMessage' | 'listInboxChanges' | 'lastInboxChange'>;
  feed: InboxFeed;
  tenantId: string;
  subscriberId: string;
  /** The last event id the client saw (`Last-Event-ID` / `?after=`), or null for "from now on". */
  after: number | null;
  /** How an inbox item looks on the wire. */
  view: (item: MessageRecord) => unknown;
  /** Writes one event to the client (in order). */
  send: (event: InboxEvent) => void;
  onError: (error: unknown) => void;
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
 * One client's view of a subscriber's inbox, resumable without gaps or duplicates. The store's
 * change log is the only source of events: the in-process feed (and the PostgreSQL relay behind
 * it) is only a doorbell saying "this subscriber's log grew". The session listens for the doorbell
 * first, then reads where to start, sends `ready`, and reads the log after the client's last id
 * — the replay — and again after its own last id at every ring. Whatever committed while it was
 * replaying is read by the next round, and an id at or below the last one sent is never read
 * again: no gap across the switch from replay to live, and no duplicate. A ring lost between
 * processes (a listener reconnecting) only delays events to the next ring.
 */
export async function openInboxSession(options: InboxSessionOptions): Promise<InboxSession> {
  const { store, tenantId, subscriberId, send } = options;
  let cursor = 0;
  let started = false;
  let closed = false;
  let running: Promise<void> | null = null;
  let again = false;

  const event = async (change: InboxChangeRecord, unreadCount: number): Promise<InboxEvent | null> => {
    const id = String(change.seq);
    if (change.type === 'inbox.read-all' || change.type === 'inbox.seen-all')
      return { type: change.type, id, unreadCount };
    const item = change.itemId ? await store.getMessage(tenantId, change.itemId) : null;
    // Gone since (erased), or never this subscriber's: nothing to show, the id is passed over.
    if (!item || item.subscriberId !== subscriberId || item.channel !== 'in_app') return null;
    return { type: change.type, id, item: options.view(item), unreadCount };
  };

  /** Sends everything logged after `cursor`, a page at a time; one round at a time. */
  const pump = () => {
    if (!started || closed) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        for (;;) {
          const changes = await store.listInboxChanges(tenantId, subscriberId, cursor, PAGE);
          if (changes.length === 0 || closed) break;
          // Read once per page: every event of it carries the count as it stands now.
          const unreadCount = await store.countUnread(tenantId, subscriberId);
          for (const change of changes) {
            const next = await event(change, unreadCount);
            if (closed) return;
            cursor = change.seq;
            if (next) send(next);
          }
          if (changes.length < PAGE) break;
        }
      } while (again && !closed);
    })()
      .catch(options.onError)
      .finally(() => {
        running = null;
        if (again) pump();
      });
  };

  const unsubscribe = options.feed.subscribe(tenantId, subscriberId, pump);
  try {
    const last = await store.lastInboxChange(tenantId, subscriberId);
    // An id from the future (another installation, a log reset) resumes from now on.
    cursor = options.after === null ? last : Math.min(options.after, last);
    send({ type: 'ready', unreadCount: await store.countUnread(tenantId, subscriberId) });
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
