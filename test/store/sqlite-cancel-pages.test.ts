import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/port.ts';
import { CANCEL_PAGE } from '../../src/store/sqlite/events.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { loopTurns } from '../helpers/event-loop.ts';

// DELETE /v1/events?cancellationKey= on SQLite runs on the API thread: a campaign's key on tens of
// thousands of events must not hold every other request while they are cancelled.

const DAY = 86_400_000;
let store: Store | null = null;
let dir: string | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

async function withKeyedEvents(count: number, key: string, from = 0, now = Date.now()) {
  // A file, as a server runs it (in memory, writes cost a fraction of what they do there).
  dir ??= mkdtempSync(path.join(tmpdir(), 'tidings-cancel-'));
  store ??= openSqliteStore({ file: path.join(dir, 'tidings.db') });
  await store.ensureTenant('t1', 't1');
  await store.putWorkflow('t1', 'news', { channels: [{ channel: 'in_app', template: { title: 'Hi' } }] }, 1);
  const sendAt = new Date(Date.now() + DAY).toISOString();
  for (let i = from; i < from + count; i += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, from + count - i) }, (_, j) => ({
      tenantId: 't1',
      id: `evt_${String(i + j).padStart(8, '0')}`,
      input: { workflow: 'news', to: ['a'], sendAt, cancellationKey: key },
      idempotencyKey: null,
      payloadHash: null,
      now,
      inlineSubscribers: [],
      subscriberIds: ['a'],
      job: { kind: 'fanout' as const, runAt: Date.now() + DAY },
    }));
    await store.acceptEvents(batch, DAY);
  }
  return store;
}

describe('cancelling by key on SQLite', () => {
  it('cancels every keyed event a page at a time, and none stored after the call began', async () => {
    const on = await withKeyedEvents(2 * CANCEL_PAGE + 7, 'spring');
    const cancelling = on.cancelEventsByKey('t1', 'spring', Date.now());
    // The first page is done before the call first gives the loop back; this event comes after.
    await withKeyedEvents(1, 'spring', 900_000);
    expect(await cancelling).toEqual({ events: 2 * CANCEL_PAGE + 7, messages: 0 });
    expect((await on.getEvent('t1', 'evt_00900000'))?.status).toBe('accepted');
    expect((await on.getEvent('t1', `evt_${String(2 * CANCEL_PAGE + 6).padStart(8, '0')}`))?.status).toBe(
      'cancelled',
    );
    // Again: nothing left to cancel but the late one.
    expect(await on.cancelEventsByKey('t1', 'spring', Date.now())).toEqual({ events: 1, messages: 0 });
  });

  it('gives the event loop back between pages', async () => {
    const on = await withKeyedEvents(30_000, 'campaign');
    let answer: unknown;
    const turns = await loopTurns(async () => {
      answer = await on.cancelEventsByKey('t1', 'campaign', Date.now());
    });
    expect(answer).toEqual({ events: 30_000, messages: 0 });
    // In one transaction (no turn at all) it held the API thread 120–220 ms on a 2-core machine;
    // a page is a few milliseconds.
    expect(turns).toBeGreaterThanOrEqual(30_000 / CANCEL_PAGE - 1);
  }, 60_000);
});

describe('deleting a workflow on SQLite', () => {
  it('cancels its unsent events a range at a time, giving the event loop back, and none stored after', async () => {
    const on = await withKeyedEvents(30_000, 'campaign');
    const deletedAt = Date.now();
    let answer: unknown;
    const turns = await loopTurns(async () => {
      const deleting = on.deleteWorkflow('t1', 'news', deletedAt);
      // Put again under the same key while the deletion is under way: the new event is not its.
      await withKeyedEvents(1, 'later', 900_000, deletedAt + 1);
      answer = await deleting;
    });
    expect(answer).toEqual({ events: 30_000, messages: 0 });
    expect((await on.getEvent('t1', 'evt_00900000'))?.status).toBe('accepted');
    expect((await on.getEvent('t1', 'evt_00029999'))?.status).toBe('cancelled');
    // In one statement (no turn at all): ~0.2 s on a 2-core machine; a range of 5,000 is a few milliseconds.
    expect(turns).toBeGreaterThanOrEqual(5);
  }, 60_000);
});
