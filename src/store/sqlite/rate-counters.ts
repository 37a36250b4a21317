import type Database from 'better-sqlite3';
import { grantRateTakes, type RateCounterRef, type RateTake, windowEnd } from '../../policy/rate-limit.ts';
import type { RateCounterStore } from '../port.ts';
import { RESERVE_SLOT } from '../send-slots.ts';
import { sqliteRateCounterPurge } from './rate-counter-purge.ts';

type CounterRow = { scope: string; window_end: number; count: number };
/** A read row, as `.raw()` answers it: [scope, window_end, count]. */
type RawCounterRow = [string, number, number];

/**
 * Counters per statement: a batch's counters are read and written a chunk at a time, with bound
 * values (parsing a JSON array of them cost more than the statements saved, measured), and one
 * statement prepared per chunk size, so at most this many of each.
 */
const CHUNK = 64;

/** Prepared statements, one per chunk size, made on first use. */
function byChunkSize(make: (n: number) => Database.Statement): (n: number) => Database.Statement {
  const made: Database.Statement[] = [];
  return (n) => (made[n] ??= make(n));
}

export function sqliteRateCounterStore(
  db: Database.Database,
  options: { purgeScan?: number } = {},
): RateCounterStore {
  // A primary-key probe per scope.
  const readOf = byChunkSize((n) =>
    db
      .prepare(
        `SELECT scope, window_end, count FROM rate_counters
         WHERE tenant_id = ? AND scope IN (${Array(n).fill('?').join(', ')})`,
      )
      .raw(),
  );
  // Counters new to the table or starting a new window: the whole row.
  const startOf = byChunkSize((n) =>
    db.prepare(
      `INSERT INTO rate_counters (tenant_id, scope, window_end, count)
       VALUES ${Array(n).fill('(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (tenant_id, scope) DO UPDATE SET window_end = excluded.window_end, count = excluded.count`,
    ),
  );
  // Counters read in this transaction and still in their window: the count alone. The rows exist
  // (the write lock is held since the read), so only the conflict branch runs; one multi-row
  // statement measured cheaper than an UPDATE per counter or an UPDATE … FROM a VALUES list. The
  // stored window end is bound all the same, so the insert branch could never write a wrong one.
  const countOf = byChunkSize((n) =>
    db.prepare(
      `INSERT INTO rate_counters (tenant_id, scope, window_end, count)
       VALUES ${Array(n).fill('(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (tenant_id, scope) DO UPDATE SET count = excluded.count`,
    ),
  );

  // Read, decide and write under the write lock (an immediate transaction): another thread's or
  // process's take waits for this one and then sees its counts.
  const take = db.transaction((tenantId: string, counters: RateCounterRef[], takes: RateTake[]) => {
    const n = counters.length;
    const counts = new Array<number>(n).fill(0);
    const limits = new Array<number>(n);
    // The stored window end of a counter whose row is in the window the take counts in (then only
    // its count changes); 0 for one that starts a window.
    const current = new Array<number>(n).fill(0);
    const index = new Map<string, number>();
    const scopes: string[] = [];
    for (let from = 0; from < n; from += CHUNK) {
      scopes.length = 0;
      for (let i = from; i < n && i < from + CHUNK; i++) {
        scopes.push(counters[i]!.scope);
        index.set(counters[i]!.scope, i);
      }
      for (const row of readOf(scopes.length).all(tenantId, ...scopes) as RawCounterRow[]) {
        const i = index.get(row[0])!;
        // An ended window counts from zero, whether or not its row was purged yet; a worker whose
        // clock lags keeps the newer window and its count.
        if (row[1] >= counters[i]!.windowEnd) {
          counts[i] = row[2];
          current[i] = row[1];
        }
      }
    }
    for (let i = 0; i < n; i++) limits[i] = counters[i]!.limit;
    const before = counts.slice();
    const answers = grantRateTakes(counts, limits, takes);
    // tenant, scope, window_end, count per counter, apart for those that start a window and those that go on.
    const started: (string | number)[] = [];
    const counted: (string | number)[] = [];
    for (let i = 0; i < n; i++) {
      if (counts[i] === before[i]) continue;
      if (current[i]! > 0) counted.push(tenantId, counters[i]!.scope, current[i]!, counts[i]!);
      else started.push(tenantId, counters[i]!.scope, counters[i]!.windowEnd, counts[i]!);
    }
    for (let from = 0; from < started.length; from += CHUNK * 4) {
      const values = started.slice(from, from + CHUNK * 4);
      startOf(values.length / 4).run(...values);
    }
    for (let from = 0; from < counted.length; from += CHUNK * 4) {
      const values = counted.slice(from, from + CHUNK * 4);
      countOf(values.length / 4).run(...values);
    }
    return answers;
  });

  const reserve = db.prepare(RESERVE_SLOT.replace(/\$(\w+)/g, '@$1'));
  const purge = sqliteRateCounterPurge(db, options.purgeScan);

  return {
    async reserveSendSlot(tenantId, scope, now, limit, windowMs) {
      const current = windowEnd(now, windowMs);
      const row = reserve.get({ tenant: tenantId, scope, current, limit, window: windowMs }) as CounterRow;
      return Math.max(now, row.window_end - windowMs);
    },
    async takeRateCounts(tenantId, counters, takes) {
      if (takes.length === 0) return [];
      return take.immediate(tenantId, counters, takes);
    },
    purgeRateCounters: purge,
  };
}
