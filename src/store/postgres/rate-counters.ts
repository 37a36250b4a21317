import type pg from 'pg';
import { grantRateTakes, windowEnd } from '../../policy/rate-limit.ts';
import type { RateCounterStore } from '../port.ts';
import { RESERVE_SLOT } from '../send-slots.ts';
import { run, transaction } from './client.ts';

type CounterRow = { scope: string; window_end: number; count: number };

// Creates the batch's counters if absent and locks them all, in scope order so two batches naming
// the same counters cannot deadlock; a counter whose window ended starts again from zero.
// RETURNING reads the latest committed counts (an ON CONFLICT update sees the newest row version
// in READ COMMITTED), so a concurrent take waits here and then counts on top of the first.
const LOCK_COUNTERS = `INSERT INTO rate_counters AS cur (tenant_id, scope, window_end, count)
  SELECT $1, u.scope, u.window_end, 0 FROM unnest($2::TEXT[], $3::BIGINT[]) AS u(scope, window_end) ORDER BY u.scope
  ON CONFLICT (tenant_id, scope) DO UPDATE SET
    count = CASE WHEN cur.window_end < excluded.window_end THEN 0 ELSE cur.count END,
    window_end = GREATEST(cur.window_end, excluded.window_end)
  RETURNING scope, window_end, count`;

const WRITE_COUNTS = `UPDATE rate_counters AS cur SET count = u.count
  FROM unnest($2::TEXT[], $3::INT[]) AS u(scope, count)
  WHERE cur.tenant_id = $1 AND cur.scope = u.scope`;

export function postgresRateCounterStore(pool: pg.Pool): RateCounterStore {
  return {
    async reserveSendSlot(tenantId, scope, now, limit, windowMs) {
      const numbered = RESERVE_SLOT.replace('$tenant', '$1')
        .replace('$scope', '$2')
        .replaceAll('$current', '$3::BIGINT')
        .replaceAll('$limit', '$4::INT')
        .replaceAll('$window', '$5::BIGINT');
      const { rows } = await run<{ window_end: string | number }>(pool, numbered, [
        tenantId,
        scope,
        windowEnd(now, windowMs),
        limit,
        windowMs,
      ]);
      return Math.max(now, Number(rows[0]!.window_end) - windowMs);
    },
    async takeRateCounts(tenantId, counters, takes) {
      if (takes.length === 0) return [];
      return transaction(pool, async (client) => {
        const { rows } = await client.query<CounterRow>(LOCK_COUNTERS, [
          tenantId,
          counters.map((c) => c.scope),
          counters.map((c) => c.windowEnd),
        ]);
        const locked = new Map(rows.map((row) => [row.scope, row.count]));
        const counts = counters.map((c) => locked.get(c.scope) ?? 0);
        const before = counts.slice();
        const answers = grantRateTakes(
          counts,
          counters.map((c) => c.limit),
          takes,
        );
        const changed = counters.flatMap((_, i) => (counts[i] !== before[i] ? [i] : []));
        if (changed.length > 0) {
          await client.query(WRITE_COUNTS, [
            tenantId,
            changed.map((i) => counters[i]!.scope),
            changed.map((i) => counts[i]!),
          ]);
        }
        return answers;
      });
    },
    async purgeRateCounters(before, limit) {
      const result = await run(
        pool,
        `DELETE FROM rate_counters WHERE (tenant_id, scope) IN
           (SELECT tenant_id, scope FROM rate_counters WHERE window_end <= $1 ORDER BY window_end LIMIT $2)`,
        [before, limit],
      );
      return result.rowCount ?? 0;
    },
  };
}
