import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { migrate } from '../../src/store/sqlite/migrate.ts';
import { sqliteRateCounterStore } from '../../src/store/sqlite/rate-counters.ts';

const T = 'ten_a';

/** A migrated database and its counter store, the purge walking `scan` rows per call. */
function counterStore(scan: number) {
  const db = new Database(':memory:');
  migrate(db);
  return { db, store: sqliteRateCounterStore(db, { purgeScan: scan }) };
}

/** Counters c00…c29 in primary-key order; those named in `ended` have a window that ended at 100. */
async function seed(store: ReturnType<typeof counterStore>['store'], ended: Set<number>) {
  const counters = Array.from({ length: 30 }, (_, i) => ({
    scope: `c${String(i).padStart(2, '0')}`,
    limit: 5,
    windowEnd: ended.has(i) ? 100 : 500,
  }));
  await store.takeRateCounts(
    T,
    counters,
    counters.map((_, i) => ({ shared: [i], parts: [[]] })),
  );
}

const left = (db: Database.Database) =>
  db.prepare('SELECT scope FROM rate_counters ORDER BY scope').pluck().all() as string[];

it('has no index on window_end: a counter write updates the table alone', () => {
  const { db } = counterStore(10);
  const indexes = db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rate_counters'`)
    .pluck()
    .all();
  expect(indexes.filter((name) => !String(name).startsWith('sqlite_autoindex'))).toEqual([]);
});

it('walks the primary key a bounded stretch per transaction up to the last row, then starts over', async () => {
  const { db, store } = counterStore(12);
  // Ended: c05 and c07 in the first stretch (c00…c11), c12 in the second, c25 in the last (c24…c29).
  await seed(store, new Set([5, 7, 12, 25]));
  // One call finds ended counters spread over every stretch: an answer below the limit means
  // this walk found no more (the retention sweep stops asking when an answer comes back short).
  expect(await store.purgeRateCounters(100, 100)).toBe(4);
  expect(left(db)).toHaveLength(26);
  expect(left(db)).not.toContain('c25');
  // The walk reached the last row: the next call starts from the first again.
  db.prepare(`UPDATE rate_counters SET window_end = 100 WHERE scope = 'c00'`).run();
  expect(await store.purgeRateCounters(100, 100)).toBe(1);
  expect(left(db)).not.toContain('c00');
});

it('stops at the last counter it deleted when it reaches the limit, and goes on from there', async () => {
  const { db, store } = counterStore(1_000);
  await seed(store, new Set([1, 2, 3, 20]));
  expect(await store.purgeRateCounters(100, 2)).toBe(2);
  expect(left(db).slice(0, 3)).toEqual(['c00', 'c03', 'c04']);
  expect(await store.purgeRateCounters(100, 2)).toBe(2);
  expect(left(db)).not.toContain('c20');
  expect(await store.purgeRateCounters(100, 2)).toBe(0);
});

it('counts from zero in its next window a counter whose ended row is still stored', async () => {
  const { store } = counterStore(1);
  const ended = [{ scope: 'c00', limit: 1, windowEnd: 100 }];
  const take = { shared: [0], parts: [[]] };
  expect(await store.takeRateCounts(T, ended, [take])).toEqual([[-1]]);
  expect(await store.takeRateCounts(T, ended, [take])).toEqual([[0]]);
  // Its window ended; the row is still there. The next window counts from zero.
  expect(await store.takeRateCounts(T, [{ ...ended[0]!, windowEnd: 200 }], [take])).toEqual([[-1]]);
});
