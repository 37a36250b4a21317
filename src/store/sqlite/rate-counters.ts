import type Database from 'better-sqlite3';
import { grantRateTakes, type RateCounterRef, type RateTake, windowEnd } from '../../policy/rate-limit.ts';
import type { RateCounterStore } from '../port.ts';
import { RESERVE_SLOT } from '../send-slots.ts';

type CounterRow = { scope: string; window_end: number; count: number };
/** A read row, as `.raw()` answers it: [scope, window_end, count]. */
type RawCounterRow = [string, number, number];

/**
 * Counters per statement: a batch's counters are read and written a chunk at a time, with bound
 * values (parsing a JSON array of them cost more than the statements saved, measured), and one
 * statement prepared per chunk size, so at most this many of each.
 */
const CHUNK = 64;

export function sqliteRateCounterStore(db: Database.Database): RateCounterStore {
  const reads: Database.Statement[] = [];
  const writes: Database.Statement[] = [];
  // A primary-key probe per scope.
  const readOf = (n: number) =>
    (reads[n] ??= db
      .prepare(
        `SELECT scope, window_end, count FROM rate_counters
         WHERE tenant_id = ? AND scope IN (${Array(n).fill('?').join(', ')})`,
      )
      .raw());
  // Every changed counter of a chunk in one statement rather than one per counter.
  const writeOf = (n: number) =>
    (writes[n] ??= db.prepare(
      `INSERT INTO rate_counters (tenant_id, scope, window_end, count)
       VALUES ${Array(n).fill('(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (tenant_id, scope) DO UPDATE SET window_end = excluded.window_end, count = excluded.count`,
    ));
  const purge = db.prepare(
    `DELETE FROM rate_counters WHERE (tenant_id, scope) IN
       (SELECT tenant_id, scope FROM rate_counters WHERE window_end <= ? LIMIT ?)`,
  );

  // Read, decide and write under the write lock (an immediate transaction): another thread's or
  // process's take waits for this one and then sees its counts.
  const take = db.transaction((tenantId: string, counters: RateCounterRef[], takes: RateTake[]) => {
    const stored = new Map<string, RawCounterRow>();
    for (let from = 0; from < counters.length; from += CHUNK) {
      const scopes = counters.slice(from, from + CHUNK).map((c) => c.scope);
      for (const row of readOf(scopes.length).all(tenantId, ...scopes) as RawCounterRow[])
        stored.set(row[0], row);
    }
    const windows: number[] = [];
    const counts = counters.map((counter) => {
      const row = stored.get(counter.scope);
      // A later window than the stored one starts from zero; a worker whose clock lags keeps the newer one.
      if (!row || row[1] < counter.windowEnd) {
        windows.push(counter.windowEnd);
        return 0;
      }
      windows.push(row[1]);
      return row[2];
    });
    const before = counts.slice();
    const answers = grantRateTakes(
      counts,
      counters.map((c) => c.limit),
      takes,
    );
    // tenant, scope, window_end, count for each changed counter.
    const changed: (string | number)[] = [];
    counters.forEach((counter, i) => {
      if (counts[i] !== before[i]) changed.push(tenantId, counter.scope, windows[i]!, counts[i]!);
    });
    for (let from = 0; from < changed.length; from += CHUNK * 4) {
      const values = changed.slice(from, from + CHUNK * 4);
      writeOf(values.length / 4).run(...values);
    }
    return answers;
  });

  const reserve = db.prepare(RESERVE_SLOT.replace(/\$(\w+)/g, '@$1'));

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
    async purgeRateCounters(before, limit) {
      return purge.run(before, limit).changes;
    },
  };
}
