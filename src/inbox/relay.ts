import { PROCESS_NAME } from '../shared/process-name.ts';
import type { ChannelNotice, Store } from '../store/port.ts';
import type { InboxChange, InboxFeed } from './feed.ts';

/**
 * The changes of one NOTIFY, in bytes (UTF-8, as PostgreSQL counts them: an id of CJK characters
 * takes three bytes a character): with the envelope, under PostgreSQL's 8,000-byte limit.
 */
export const MAX_PAYLOAD_BYTES = 7_500;

interface Envelope {
  /** The sending process: it hears its own notifications, and must not publish them twice. */
  from: string;
  changes: InboxChange[];
  /**
   * The sender had a change too large for any payload (never with ids of allowed lengths): it
   * was not sent, and receivers take it as a gap in what they heard (InboxFeed.gap).
   */
  lost?: true;
}

/**
 * Changes as a notice to the other processes' relays, for a store write to send with its commit
 * (ChannelNotice): an erasure's, which no process may miss because this one failed to publish
 * it after committing. Small changes only (no item): one payload.
 */
export function inboxNotice(changes: InboxChange[]): ChannelNotice {
  return { channel: 'inbox', payload: JSON.stringify({ from: PROCESS_NAME, changes } satisfies Envelope) };
}

const CHANGE_TYPES = new Set<string>([
  'item.created',
  'item.updated',
  'inbox.read-all',
  'inbox.seen-all',
  'subscriber.erased',
]);

/**
 * `value` if it is an envelope as relays send them, else null: anything may be sent on the
 * channel (`NOTIFY tidings_inbox, '{}'` from psql, another version), and a listener that threw on
 * it would throw in the database driver's notification handler, which ends the process.
 */
function asEnvelope(value: unknown): Envelope | null {
  if (typeof value !== 'object' || value === null) return null;
  const { from, changes } = value as Record<string, unknown>;
  if (typeof from !== 'string' || !Array.isArray(changes)) return null;
  for (const change of changes as unknown[]) {
    if (typeof change !== 'object' || change === null) return null;
    const { type, tenantId, subscriberId, itemId } = change as Record<string, unknown>;
    if (typeof type !== 'string' || !CHANGE_TYPES.has(type)) return null;
    if (typeof tenantId !== 'string' || typeof subscriberId !== 'string') return null;
    if ((type === 'item.created' || type === 'item.updated') && typeof itemId !== 'string') return null;
    // Relays send no item (withoutItem): one would be sent to clients as it came.
    if ('logged' in change) return null;
  }
  return value as Envelope;
}

function withoutItem(change: InboxChange): InboxChange {
  const { logged: _, ...ring } = change as Extract<InboxChange, { type: 'item.created' }>;
  return ring;
}

/**
 * Carries inbox changes between processes on the same store, so a stream open on one api
 * process hears of an item a worker process delivered and of a read made through another api
 * process. Each local batch goes out as one NOTIFY (split to fit; the channel coalesces what
 * waits behind a NOTIFY in flight); with `listen`,
 * other processes' changes are published here as 'remote'. Threads of one process share its
 * name, so a worker thread's own changes (already passed to the API thread) are not taken in
 * twice. Changes sent while the listener was reconnecting are lost, and one may have been an
 * erasure: once it is back (or when it heard a payload it cannot read) the feed is told of the
 * gap (InboxFeed.gap), and every open stream checks its subscriber still holds and reads what
 * its log got meanwhile. Answers how to disconnect.
 */
export async function relayInboxFeed(
  store: Store,
  feed: InboxFeed,
  options: {
    listen: boolean;
    /** This process in envelopes (tests: two "processes" in one). */
    name?: string;
  },
): Promise<() => Promise<void>> {
  if (!store.capabilities.crossProcessWakeups || !store.openChannel) return async () => undefined;
  const self = options.name ?? PROCESS_NAME;
  const hear = (payload: string) => {
    let envelope: Envelope | null;
    try {
      envelope = asEnvelope(JSON.parse(payload));
    } catch {
      envelope = null;
    }
    if (!envelope) {
      // Whatever it carried is lost to this process's streams, as if missed.
      process.emitWarning(`an inbox notification could not be read: ${payload.slice(0, 200)}`);
      feed.gap();
      return;
    }
    if (envelope.from === self) return;
    if (envelope.lost) feed.gap();
    feed.publish(envelope.changes, 'remote');
  };
  const channel = await store.openChannel(
    'inbox',
    options.listen ? hear : null,
    options.listen ? () => feed.gap() : undefined,
  );

  /** One NOTIFY per batch, split where a payload would grow too large. */
  const send = (changes: readonly InboxChange[]) => {
    let chunk: InboxChange[] = [];
    let size = 0;
    for (const logged of changes) {
      // Without the item: it would not fit many to a payload; other processes' streams read it.
      const change = 'logged' in logged ? withoutItem(logged) : logged;
      const length = Buffer.byteLength(JSON.stringify(change)) + 1;
      if (length > MAX_PAYLOAD_BYTES) {
        // PostgreSQL would refuse it: the receivers check what it would have told them instead.
        process.emitWarning(`an inbox change of ${length} bytes is too large to relay; sending a gap`);
        channel.publish(JSON.stringify({ from: self, changes: [], lost: true } satisfies Envelope));
        continue;
      }
      if (chunk.length > 0 && size + length > MAX_PAYLOAD_BYTES) {
        channel.publish(JSON.stringify({ from: self, changes: chunk } satisfies Envelope));
        chunk = [];
        size = 0;
      }
      chunk.push(change);
      size += length;
    }
    if (chunk.length > 0) channel.publish(JSON.stringify({ from: self, changes: chunk } satisfies Envelope));
  };
  const untap = feed.tap((changes, origin) => {
    if (origin === 'local') send(changes);
  });
  return async () => {
    untap();
    await channel.close();
  };
}
