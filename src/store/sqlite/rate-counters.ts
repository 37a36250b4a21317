import type Database from 'better-sqlite3';
import { grantRateTakes, type RateCounterRef, type RateTake, windowEnd } from '../../policy/rate-limit.ts';
import type { RateCounterStore } from '../port.ts';
import { RESERVE_SLOT } from '../send-slots.ts';

type CounterRow = { scope: string; window_end: number; count: number };

export function sqliteRateCounterStore(db: Database.Database): RateCounterStore {
  // One statement for a batch's counters: a primary-key probe per scope.
  const read = db.prepare(
    `SELECT scope, window_end, count FROM rate_counters
     WHERE tenant_id = ? AND scope IN (SELECT value FROM json_each(?))`,
  );
  // Every changed counter in one statement: [scope, window_end, count] triples as one JSON array,
  // rather than a statement per recipient (a delivery batch changes one counter per recipient).
  // `WHERE true` lets SQLite parse the upsert after a SELECT (its documented ambiguity).
  const write = db.prepare(
    `INSERT INTO rate_counters (tenant_id, scope, window_end, count)
     SELECT ?, value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true
     ON CONFLICT (tenant_id, scope) DO UPDATE SET window_end = excluded.window_end, count = excluded.count`,
  );
  const purge = db.prepare(
    `DELETE FROM rate_counters WHERE (tenant_id, scope) IN
       (SELECT tenant_id, scope FROM rate_counters WHERE window_end <= ? LIMIT ?)`,
  );

  // Read, decide and write under the write lock (an immediate transaction): another thread's or
  // process's take waits for this one and then sees its counts.
  const take = db.transaction((tenantId: string, counters: RateCounterRef[], takes: RateTake[]) => {
    const stored = new Map<string, CounterRow>();
    for (const row of read.all(tenantId, JSON.stringify(counters.map((c) => c.scope))) as CounterRow[])
      stored.set(row.scope, row);
    const windows: number[] = [];
    const counts = counters.map((counter) => {
      const row = stored.get(counter.scope);
      // A later window than the stored one starts from zero; a worker whose clock lags keeps the newer one.
      if (!row || row.window_end < counter.windowEnd) {
        windows.push(counter.windowEnd);
        return 0;
      }
      windows.push(row.window_end);
      return row.count;
    });
    const before = counts.slice();
    const answers = grantRateTakes(
      counts,
      counters.map((c) => c.limit),
      takes,
    );
    const changed: [string, number, number][] = [];
    counters.forEach((counter, i) => {
      if (counts[i] !== before[i]) changed.push([counter.scope, windows[i]!, counts[i]!]);
    });
    if (changed.length > 0) write.run(tenantId, JSON.stringify(changed));
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
