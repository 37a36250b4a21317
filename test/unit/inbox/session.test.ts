import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventText } from '../../../src/inbox/event-text.ts';
import { type InboxChange, InboxFeed, type InboxItemFields } from '../../../src/inbox/feed.ts';
import { inboxItemView } from '../../../src/inbox/item-view.ts';
import { InboxReader } from '../../../src/inbox/reader.ts';
import { type InboxEvent, type InboxSessionOptions, openInboxSession } from '../../../src/inbox/session.ts';
import type { MessageRecord } from '../../../src/shared/model.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { messageRecord } from '../../helpers/message-record.ts';
import { waitFor } from '../../helpers/wait.ts';

let store: Store | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
});

function item(tenantId: string, subscriberId: string, id: string): MessageRecord {
  return messageRecord({
    tenantId,
    id,
    subscriberId,
    workflow: 'news',
    content: { title: `Title ${id}`, body: 'b' },
  });
}

/** A real in-memory store whose catchUpInboxes calls are counted (cursors per call). */
async function countedStore(): Promise<{ store: Store; reads: number[] }> {
  const real = openSqliteStore({ file: ':memory:' });
  store = real;
  await real.ensureTenant('t1', 't1');
  await real.ensureTenant('t2', 't2');
  const reads: number[] = [];
  const counted = new Proxy(real, {
    get(target, name, receiver) {
      if (name === 'catchUpInboxes')
        return (tenantId: string, cursors: readonly unknown[], limit: number) => {
          reads.push(cursors.length);
          return target.catchUpInboxes(tenantId, cursors as never, limit);
        };
      return Reflect.get(target, name, receiver);
    },
  });
  return { store: counted, reads };
}

/** How items look on the wire here (one function, as the routes use one). */
const view = (m: InboxItemFields) => ({ id: m.id, title: m.content.title });

/** One turn of the event loop: reads asked for before it have been made and answered. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A session as it opens: what it sent, how often it was erased, and the opening itself. */
function opening(
  s: Store,
  feed: InboxFeed,
  reader: InboxReader,
  tenantId: string,
  subscriberId: string,
  itemView: (m: InboxItemFields) => unknown = view,
  more: Partial<InboxSessionOptions> = {},
) {
  const events: InboxEvent[] = [];
  let erased = 0;
  const session = openInboxSession({
    store: s,
    feed,
    reader,
    tenantId,
    subscriberId,
    after: null,
    view: itemView,
    send: (event) => events.push(event),
    onError: (error) => {
      throw error;
    },
    onErased: () => {
      erased++;
    },
    onUnverified: () => {
      throw new Error('unverified');
    },
    ...more,
  });
  return { events, session, erased: () => erased };
}

async function open(...args: Parameters<typeof opening>) {
  const { session, ...rest } = opening(...args);
  return { ...rest, session: await session };
}

describe('inbox sessions woken together', () => {
  it('a broadcast rings 1,200 streams: their logs are read in slices of 500, not once per stream', async () => {
    const { store: s, reads } = await countedStore();
    const feed = new InboxFeed();
    const reader = new InboxReader(s);
    const ids = Array.from({ length: 1_200 }, (_, i) => `u${i}`);
    const streams = await Promise.all(ids.map((id) => open(s, feed, reader, 't1', id)));
    // Opening reads each stream's log once (they start from now: nothing to send).
    await waitFor(() => reads.reduce((a, b) => a + b, 0) === ids.length, 'the opening reads');
    reads.length = 0;

    await s.createMessages(ids.map((id) => ({ record: item('t1', id, `m_${id}`), followUp: null })));
    feed.publish(
      ids.map((id) => ({ type: 'item.created', tenantId: 't1', subscriberId: id, itemId: `m_${id}` })),
    );
    await waitFor(() => streams.every((s) => s.events.length === 2), 'every stream to get its item');

    expect(reads).toEqual([500, 500, 200]);
    streams.forEach(({ events }, i) => {
      expect(events[0]).toEqual({ type: 'ready', unreadCount: 0 });
      expect(events[1]).toEqual({
        type: 'item.created',
        id: '1',
        item: { id: `m_u${i}`, title: `Title m_u${i}` },
        unreadCount: 1,
      });
    });
    for (const { session } of streams) session.close();
  });

  it("streams of one subscriber at the same point share one read and its events; another tenant's hears nothing", async () => {
    const { store: s, reads } = await countedStore();
    const feed = new InboxFeed();
    const reader = new InboxReader(s);
    const phone = await open(s, feed, reader, 't1', 'ada');
    const laptop = await open(s, feed, reader, 't1', 'ada');
    const elsewhere = await open(s, feed, reader, 't2', 'ada');
    // The opening reads are made in the turn after each open (the reader gathers a turn's reads).
    await turn();
    reads.length = 0;

    await s.createMessages([{ record: item('t1', 'ada', 'm1'), followUp: null }]);
    feed.publish([{ type: 'item.created', tenantId: 't1', subscriberId: 'ada', itemId: 'm1' }]);
    await waitFor(() => phone.events.length === 2 && laptop.events.length === 2, 'both devices');
    // One cursor read for both devices, and the very same event object sent to each.
    expect(reads).toEqual([1]);
    expect(phone.events[1]).toBe(laptop.events[1]);
    expect(elsewhere.events).toEqual([{ type: 'ready', unreadCount: 0 }]);
    for (const stream of [phone, laptop, elsewhere]) stream.session.close();
  });

  it('a stream behind by more than a page reads on until it has everything, in order', async () => {
    const { store: s } = await countedStore();
    const feed = new InboxFeed();
    const reader = new InboxReader(s, 2);
    const stream = await open(s, feed, reader, 't1', 'bo');
    await s.createMessages(
      [1, 2, 3, 4, 5].map((n) => ({ record: item('t1', 'bo', `m${n}`), followUp: null })),
    );
    // One ring for five changes.
    feed.publish([{ type: 'item.created', tenantId: 't1', subscriberId: 'bo', itemId: 'm5' }]);
    await waitFor(() => stream.events.length === 6, 'all five items');
    expect(stream.events.slice(1).map((e) => ('id' in e ? e.id : null))).toEqual(['1', '2', '3', '4', '5']);
    expect(stream.events.at(-1)).toMatchObject({ unreadCount: 5 });
    stream.session.close();
    // Closed: a later ring sends nothing.
    await s.createMessages([{ record: item('t1', 'bo', 'm6'), followUp: null }]);
    feed.publish([{ type: 'item.created', tenantId: 't1', subscriberId: 'bo', itemId: 'm6' }]);
    await turn();
    await turn();
    expect(stream.events).toHaveLength(6);
  });
});

describe('inbox sessions of an erased subscriber', () => {
  it('end when the subscriber is erased, and send nothing of a new subscriber given the same id', async () => {
    const { store: s } = await countedStore();
    const feed = new InboxFeed();
    const reader = new InboxReader(s);
    const erased = await open(s, feed, reader, 't1', 'eve');
    const neighbour = await open(s, feed, reader, 't1', 'ned');
    await turn();
    feed.publish([{ type: 'subscriber.erased', tenantId: 't1', subscriberId: 'eve' }]);
    expect([erased.erased(), neighbour.erased()]).toEqual([1, 0]);
    // A new `eve`, whose log starts again: the old stream is gone, it reads and sends nothing.
    await s.createMessages([{ record: item('t1', 'eve', 'm_new'), followUp: null }]);
    feed.publish([{ type: 'item.created', tenantId: 't1', subscriberId: 'eve', itemId: 'm_new' }]);
    await turn();
    await turn();
    expect(erased.events).toEqual([{ type: 'ready', unreadCount: 0 }]);
    expect(erased.erased()).toBe(1);
    neighbour.session.close();
  });

  it('ends a stream whose subscriber was erased while it was being set up (the notice came before it listened)', async () => {
    const { store: s } = await countedStore();
    const feed = new InboxFeed();
    const events: InboxEvent[] = [];
    let ended = 0;
    // The notice went out before this session listened: only the check once listening sees the erasure.
    feed.publish([{ type: 'subscriber.erased', tenantId: 't1', subscriberId: 'eve' }]);
    await openInboxSession({
      store: s,
      feed,
      reader: new InboxReader(s),
      tenantId: 't1',
      subscriberId: 'eve',
      after: null,
      view,
      send: (event) => events.push(event),
      onError: (error) => {
        throw error;
      },
      onErased: () => {
        ended++;
      },
      onUnverified: () => undefined,
      stillHolds: async () => false,
    });
    await s.createMessages([{ record: item('t1', 'eve', 'm_late'), followUp: null }]);
    feed.publish([{ type: 'item.created', tenantId: 't1', subscriberId: 'eve', itemId: 'm_late' }]);
    await turn();
    expect([ended, events.length, feed.hasAudience()]).toEqual([1, 0, false]);
  });
});

describe('inbox sessions after a gap in the feed (a relay listener reconnected)', () => {
  it('each checks its subscriber still holds: an erasure whose notice was lost ends it, the others send what they missed', async () => {
    const { store: s, reads } = await countedStore();
    const feed = new InboxFeed();
    const reader = new InboxReader(s);
    const holds = new Map([
      ['eve', true],
      ['ned', true],
    ]);
    const checks: string[] = [];
    const check = (id: string) => ({
      stillHolds: async () => {
        checks.push(id);
        return holds.get(id)!;
      },
    });
    const eve = await open(s, feed, reader, 't1', 'eve', view, check('eve'));
    const ned = await open(s, feed, reader, 't1', 'ned', view, check('ned'));
    await waitFor(() => reads.length > 0, 'the opening reads');
    await turn();
    checks.length = 0;
    // Lost between processes: eve's erasure notice, and the ring of ned's new item.
    holds.set('eve', false);
    await s.createMessages([{ record: item('t1', 'ned', 'm_missed'), followUp: null }]);
    await turn();
    expect(ned.events).toHaveLength(1);

    feed.gap();
    await waitFor(
      () => eve.erased() === 1 && ned.events.length === 2,
      'the erased stream to end, the other to catch up',
    );
    expect(checks.sort()).toEqual(['eve', 'ned']);
    expect(ned.events[1]).toEqual({
      type: 'item.created',
      id: '1',
      item: { id: 'm_missed', title: 'Title m_missed' },
      unreadCount: 1,
    });
    expect([eve.events, ned.erased()]).toEqual([[{ type: 'ready', unreadCount: 0 }], 0]);
    // Ended: eve's stream no longer listens, to rings or gaps (nor, closed, does ned's).
    ned.session.close();
    feed.gap();
    await turn();
    expect([checks.length, feed.hasAudience()]).toEqual([2, false]);
  });

  it("sends nothing while the check is out: a ring of a new subscriber of the erased one's id waits, then the stream ends", async () => {
    const { store: s } = await countedStore();
    const feed = new InboxFeed();
    let answer: (holds: boolean) => void = () => undefined;
    let asked = 0;
    const stream = await open(s, feed, new InboxReader(s), 't1', 'eve', inboxItemView, {
      stillHolds: () => {
        asked++;
        // Opening: holds; after the gap: answered by the test.
        return asked === 1 ? Promise.resolve(true) : new Promise((resolve) => (answer = resolve));
      },
    });
    await waitFor(() => stream.events.length === 1, 'ready');
    await turn();
    await turn();
    feed.gap();
    expect(asked).toBe(2);
    // A new `eve` (same id, log from 1) gets an item; its ring comes while the check is out.
    const record = item('t1', 'eve', 'm_new');
    const seqs = new Map<string, number>();
    await s.createMessages([{ record, followUp: null }], undefined, undefined, undefined, seqs);
    feed.publish([
      {
        type: 'item.created',
        tenantId: 't1',
        subscriberId: 'eve',
        itemId: 'm_new',
        logged: { seq: seqs.get('m_new')!, unread: true, view: JSON.stringify(inboxItemView(record)) },
      },
    ]);
    await turn();
    await turn();
    expect(stream.events).toHaveLength(1);
    answer(false);
    await waitFor(() => stream.erased() === 1, 'the stream to end');
    await turn();
    await turn();
    expect(stream.events).toEqual([{ type: 'ready', unreadCount: 0 }]);
  });

  it('ends the stream (onUnverified) when the check fails: it is not trusted to stay open', async () => {
    const { store: s } = await countedStore();
    const feed = new InboxFeed();
    const errors: unknown[] = [];
    let unverified = 0;
    let asked = 0;
    const stream = await open(s, feed, new InboxReader(s), 't1', 'ada', view, {
      stillHolds: async () => {
        if (++asked > 1) throw new Error('store unavailable');
        return true;
      },
      onError: (error) => errors.push(error),
      onUnverified: () => {
        unverified++;
      },
    });
    feed.gap();
    await waitFor(() => unverified === 1, 'the stream to end');
    expect([stream.erased(), (errors[0] as Error).message, feed.hasAudience()]).toEqual([
      0,
      'store unavailable',
      false,
    ]);
  });
  it('a gap while a read is in flight: what the read brings is not sent before the check answers, and no read starts meanwhile', async () => {
    const { store: s, reads } = await countedStore();
    const feed = new InboxFeed();
    /** While set, log reads wait for it: the test lets them go. */
    let gate: Promise<void> | null = null;
    let started = 0;
    let openGate: () => void = () => undefined;
    const gated = new Proxy(s, {
      get(target, name, receiver) {
        if (name === 'catchUpInboxes')
          return async (...args: Parameters<Store['catchUpInboxes']>) => {
            started++;
            if (gate) await gate;
            return target.catchUpInboxes(...args);
          };
        return Reflect.get(target, name, receiver);
      },
    });
    let answer: (holds: boolean) => void = () => undefined;
    let asked = 0;
    const stream = await open(s, feed, new InboxReader(gated), 't1', 'eve', view, {
      stillHolds: () =>
        ++asked === 1 ? Promise.resolve(true) : new Promise((resolve) => (answer = resolve)),
    });
    await waitFor(() => reads.length === 1, 'the opening read');
    await turn();

    // A read goes out (an item's ring without the item) and is held; the gap's check begins.
    gate = new Promise<void>((resolve) => (openGate = resolve));
    await s.createMessages([{ record: item('t1', 'eve', 'm_1'), followUp: null }]);
    feed.publish([{ type: 'item.updated', tenantId: 't1', subscriberId: 'eve', itemId: 'm_1' }]);
    await waitFor(() => started === 2, 'the read to go out');
    feed.gap();
    expect(asked).toBe(2);
    gate = null;
    openGate();
    // Another ring while the check is out: no read either.
    await s.createMessages([{ record: item('t1', 'eve', 'm_2'), followUp: null }]);
    feed.publish([{ type: 'item.updated', tenantId: 't1', subscriberId: 'eve', itemId: 'm_2' }]);
    for (let i = 0; i < 5; i++) await turn();
    expect([stream.events, started, reads.length]).toEqual([[{ type: 'ready', unreadCount: 0 }], 2, 2]);

    // The subscriber holds: the stream reads, and sends both.
    answer(true);
    await waitFor(() => stream.events.length === 3, 'both items');
    expect(stream.events.slice(1).map((event) => (event as { item: { id: string } }).item.id)).toEqual([
      'm_1',
      'm_2',
    ]);
    stream.session.close();
  });

  it('a gap while the stream opens: its check ending the stream sends no `ready`, and `ready` waits for a check that is out', async () => {
    const { store: s, reads } = await countedStore();
    const feed = new InboxFeed();
    /** The opening's first log read is held until the test lets it go. */
    let letOpen: () => void = () => undefined;
    const held = new Proxy(s, {
      get(target, name, receiver) {
        if (name === 'lastInboxChange')
          return async (tenantId: string, subscriberId: string) => {
            await new Promise<void>((resolve) => (letOpen = resolve));
            return target.lastInboxChange(tenantId, subscriberId);
          };
        return Reflect.get(target, name, receiver);
      },
    });
    const openHeld = (id: string, stillHolds: () => Promise<boolean>) =>
      opening(held, feed, new InboxReader(s), 't1', id, view, { stillHolds });

    // Erased while opening (the notice lost): the gap's check ends it; nothing is sent.
    let asked = 0;
    const gone = openHeld('eve', async () => ++asked === 1);
    await waitFor(() => asked === 1, 'the opening check');
    await turn();
    feed.gap();
    await waitFor(() => gone.erased() === 1, 'the check to end the stream');
    letOpen();
    await gone.session;
    expect(gone.events).toEqual([]);

    // A check still out when the opening reads are done: `ready` waits for its answer.
    let answer: (holds: boolean) => void = () => undefined;
    let checks = 0;
    const kept = openHeld('ned', () =>
      ++checks === 1 ? Promise.resolve(true) : new Promise((resolve) => (answer = resolve)),
    );
    await waitFor(() => checks === 1, 'the opening check');
    await turn();
    feed.gap();
    expect(checks).toBe(2);
    letOpen();
    await turn();
    await turn();
    await turn();
    expect(kept.events).toEqual([]);
    answer(true);
    await kept.session;
    expect(kept.events).toEqual([{ type: 'ready', unreadCount: 0 }]);
    expect(reads).toEqual([]);
    await waitFor(() => reads.length === 1, 'the read after `ready` (the ended stream made none)');
    await turn();
    (await kept.session).close();
  });

  it('a callback that throws once the check answers is told to onError, not left an unhandled rejection', async () => {
    const { store: s, reads } = await countedStore();
    const feed = new InboxFeed();
    const errors: unknown[] = [];
    let asked = 0;
    await open(s, feed, new InboxReader(s), 't1', 'ada', view, {
      stillHolds: async () => ++asked === 1,
      onError: (error) => errors.push(error),
      onErased: () => {
        throw new Error('the socket was gone');
      },
    });
    await waitFor(() => reads.length > 0, 'the opening read');
    await turn();
    feed.gap();
    await waitFor(() => errors.length === 1, 'the error to be told');
    expect((errors[0] as Error).message).toBe('the socket was gone');
  });

  it('ends the stream (onUnverified) when the check does not answer in time: a hung query keeps no stream silent', async () => {
    const { store: s } = await countedStore();
    const feed = new InboxFeed();
    const errors: unknown[] = [];
    let unverified = 0;
    let asked = 0;
    await open(s, feed, new InboxReader(s), 't1', 'ada', view, {
      stillHolds: () => (++asked > 1 ? new Promise<boolean>(() => undefined) : Promise.resolve(true)),
      verifyTimeoutMs: 20,
      onError: (error) => errors.push(error),
      onUnverified: () => {
        unverified++;
      },
    });
    feed.gap();
    await waitFor(() => unverified === 1, 'the stream to end');
    expect((errors[0] as Error).message).toBe('checking the subscriber still holds took over 20 ms');
    expect(feed.hasAudience()).toBe(false);
  });
});

describe('inbox sessions sent a new item by its ring', () => {
  /** Creates items and answers the rings a delivery commit publishes: each with its log number and item. */
  async function deliver(s: Store, subscriberId: string, ids: string[]): Promise<InboxChange[]> {
    const records = ids.map((id) => item('t1', subscriberId, id));
    const seqs = new Map<string, number>();
    await s.createMessages(
      records.map((record) => ({ record, followUp: null })),
      undefined,
      undefined,
      undefined,
      seqs,
    );
    return records.map((record) => ({
      type: 'item.created',
      tenantId: 't1',
      subscriberId,
      itemId: record.id,
      logged: { seq: seqs.get(record.id)!, unread: true, view: JSON.stringify(inboxItemView(record)) },
    }));
  }

  /** A stream of `ada` that has read to the end of its log (so it knows where it stands). */
  async function settled() {
    const { store: s, reads } = await countedStore();
    const feed = new InboxFeed();
    const stream = await open(s, feed, new InboxReader(s), 't1', 'ada', inboxItemView);
    await waitFor(() => reads.length === 1, 'the opening read');
    await turn();
    reads.length = 0;
    return { s, reads, feed, stream };
  }

  const ids = (events: InboxEvent[]) => events.slice(1).map((e) => ('id' in e ? e.id : null));

  it('the next item of the log is sent from its ring, with the unread count after it, without reading', async () => {
    const { s, reads, feed, stream } = await settled();
    const rings = await deliver(s, 'ada', ['m1', 'm2']);
    feed.publish(rings);
    const items = await Promise.all(['m1', 'm2'].map((id) => s.getMessage('t1', id)));
    expect(stream.events.slice(1)).toEqual([
      { type: 'item.created', id: '1', item: inboxItemView(items[0]!), unreadCount: 1 },
      { type: 'item.created', id: '2', item: inboxItemView(items[1]!), unreadCount: 2 },
    ]);
    // On the wire exactly as an event read from the log would be.
    expect(eventText(stream.events[1]!)).toBe(JSON.stringify({ ...stream.events[1]! }));
    await turn();
    expect(reads).toEqual([]);
    // A read state change comes without the item: read, and counted from the store again.
    await s.markInbox('t1', 'ada', 'm1', 'read', Date.now());
    feed.publish([{ type: 'item.updated', tenantId: 't1', subscriberId: 'ada', itemId: 'm1' }]);
    await waitFor(() => stream.events.length === 4, 'the update');
    expect(stream.events[3]).toMatchObject({ type: 'item.updated', id: '3', unreadCount: 1 });
    const [next] = await deliver(s, 'ada', ['m3']);
    feed.publish([next!]);
    expect(stream.events[4]).toMatchObject({ type: 'item.created', id: '4', unreadCount: 2 });
    stream.session.close();
  });

  it('counts on the unread count of its last read for a minute only: a purge removes items without logging', async () => {
    const { s, reads, feed, stream } = await settled();
    let now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      feed.publish(await deliver(s, 'ada', ['m1']));
      expect(stream.events[1]).toMatchObject({ id: '1', unreadCount: 1 });
      // The retention sweep takes m1 (old and unread) away: no log entry says so.
      expect(await s.purgeExpired('messages', 't1', Number.MAX_SAFE_INTEGER, 10)).toBe(1);
      // Within the minute, the next item still goes from its ring (the count lags the purge)…
      feed.publish(await deliver(s, 'ada', ['m2']));
      expect(stream.events[2]).toMatchObject({ id: '2', unreadCount: 2 });
      expect(reads).toEqual([]);
      // …past it, the next ring reads, and the count is the store's again (m2 and m3, not 3).
      now += 60_001;
      feed.publish(await deliver(s, 'ada', ['m3']));
      await waitFor(() => stream.events.length === 4, 'the third item');
      expect(reads).toEqual([1]);
      expect(stream.events[3]).toMatchObject({ id: '3', unreadCount: 2 });
    } finally {
      clock.mockRestore();
      stream.session.close();
    }
  });

  it('a ring after a gap reads the log: the item it skipped comes first, and none twice', async () => {
    const { s, reads, feed, stream } = await settled();
    // Item 1's ring is lost (another process, a listener reconnecting): item 2's rings alone.
    const [, second] = await deliver(s, 'ada', ['m1', 'm2']);
    feed.publish([second!]);
    expect(stream.events).toHaveLength(1);
    await waitFor(() => stream.events.length === 3, 'both items');
    expect(reads).toEqual([1]);
    expect(ids(stream.events)).toEqual(['1', '2']);
    expect(stream.events[2]).toMatchObject({ unreadCount: 2 });
    stream.session.close();
  });

  it('rings out of order read the log once and send each item once, in order', async () => {
    const { s, feed, stream } = await settled();
    const [first, second, third] = await deliver(s, 'ada', ['m1', 'm2', 'm3']);
    feed.publish([third!]);
    feed.publish([first!]);
    feed.publish([second!]);
    await waitFor(() => stream.events.length === 4, 'three items');
    await turn();
    await turn();
    expect(ids(stream.events)).toEqual(['1', '2', '3']);
    // Sent again after the reads: nothing new.
    feed.publish([first!, second!, third!]);
    await turn();
    await turn();
    expect(ids(stream.events)).toEqual(['1', '2', '3']);
    stream.session.close();
  });

  it('a ring that comes while the stream reads waits for the read: no item twice', async () => {
    const { s, reads, feed, stream } = await settled();
    const [first, second] = await deliver(s, 'ada', ['m1', 'm2']);
    // A ring without the item starts a read (of both), then item 2's ring comes while it runs.
    feed.publish([{ type: 'item.created', tenantId: 't1', subscriberId: 'ada', itemId: 'm1' }]);
    feed.publish([second!]);
    expect(stream.events).toHaveLength(1);
    await waitFor(() => stream.events.length === 3, 'both items');
    feed.publish([first!]);
    await turn();
    await turn();
    expect(ids(stream.events)).toEqual(['1', '2']);
    expect(reads.length).toBeGreaterThanOrEqual(1);
    stream.session.close();
  });
});

describe('inbox sessions resuming from a position the log no longer holds', () => {
  it('say so on ready (resumed: false) and start from now, rather than replay only what is left', async () => {
    const real = openSqliteStore({ file: ':memory:' });
    store = real;
    await real.ensureTenant('t1', 't1');
    const at = (id: string, createdAt: number) => ({ ...item('t1', 'u1', id), createdAt });
    // Changes 1–3, the first two older than the log keeps.
    await real.createMessages([
      { record: at('msg_1', 1_000), followUp: null },
      { record: at('msg_2', 1_000), followUp: null },
      { record: at('msg_3', 5_000), followUp: null },
    ]);
    expect(await real.purgeInboxChanges(2_000, 100)).toBe(2);
    const feed = new InboxFeed();
    const reader = new InboxReader(real);
    const resume = async (after: number) => {
      const opened = await open(real, feed, reader, 't1', 'u1', view, { after });
      await turn();
      await turn();
      opened.session.close();
      return opened.events;
    };
    // From 1: change 2 is gone, so the client must reload its list; nothing is replayed.
    const lost = await resume(1);
    expect(lost).toEqual([{ type: 'ready', unreadCount: 3, resumed: false }]);
    // From 2: everything after it is still logged, and replayed.
    const kept = await resume(2);
    expect(kept[0]).toEqual({ type: 'ready', unreadCount: 3, resumed: true });
    expect(kept.slice(1).map((e) => ('id' in e ? e.id : null))).toEqual(['3']);
    // From the last change (or past it): nothing was missed.
    expect((await resume(3))[0]).toEqual({ type: 'ready', unreadCount: 3, resumed: true });
  });
});
