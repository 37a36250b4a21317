import type Database from 'better-sqlite3';

/**
 * Rows of rate_counters one purge call looks at, at most: each call is one short write
 * transaction, so a delivery batch never waits long behind it.
 */
export const PURGE_SCAN = 20_000;
/** Stretches one purge call walks at most (a million rows at the default scan). */
const MAX_STRETCHES_PER_CALL = 50;

type Key = [tenantId: string, scope: string];

/**
 * The purge of ended rate counters (RateCounterStore.purgeRateCounters) without an index on
 * window_end, which would cost every counter write: each call walks the next `scan` rows in
 * primary-key order from where the previous call stopped, deletes those whose window ended (up
 * to `limit`), and starts over from the first row once it reached the last. An ended counter may
 * so wait up to a full walk of the table to go; reads compare window_end, so it never counts.
 *
 * Where the walk stopped is kept in memory: a new process starts from the first row.
 */
export function sqliteRateCounterPurge(
  db: Database.Database,
  scan: number = PURGE_SCAN,
): (before: number, limit: number) => Promise<number> {
  const range = (from: boolean, to: boolean) =>
    [
      from ? '(tenant_id, scope) > (@fromTenant, @fromScope)' : '1',
      to ? '(tenant_id, scope) <= (@toTenant, @toScope)' : '1',
    ].join(' AND ');
  // One statement per combination of bounds, prepared on first use.
  const variants = (make: (from: boolean, to: boolean) => string, raw = false) => {
    const made = new Map<string, Database.Statement>();
    return (from: boolean, to: boolean) => {
      const key = `${from}${to}`;
      let statement = made.get(key);
      if (!statement) {
        statement = db.prepare(make(from, to));
        if (raw) statement.raw();
        made.set(key, statement);
      }
      return statement;
    };
  };
  // The key `@skip` rows past the start of the walk: where this call's stretch ends.
  const nth = variants(
    (from) =>
      `SELECT tenant_id, scope FROM rate_counters WHERE ${range(from, false)}
     ORDER BY tenant_id, scope LIMIT 1 OFFSET @skip`,
    true,
  );
  // The key of the `@skip`+1th ended counter of the stretch: where a call that deletes `limit` stops.
  const nthEnded = variants(
    (from, to) =>
      `SELECT tenant_id, scope FROM rate_counters WHERE ${range(from, to)} AND window_end <= @before
     ORDER BY tenant_id, scope LIMIT 1 OFFSET @skip`,
    true,
  );
  const remove = variants(
    (from, to) => `DELETE FROM rate_counters WHERE ${range(from, to)} AND window_end <= @before`,
  );
  const keyParams = (from: Key | null, to: Key | null) => ({
    ...(from && { fromTenant: from[0], fromScope: from[1] }),
    ...(to && { toTenant: to[0], toScope: to[1] }),
  });

  let resumeAfter: Key | null = null;
  /** One stretch, one short write transaction: how many it deleted, and whether it reached the last row. */
  const stretch = db.transaction((before: number, limit: number): { removed: number; wrapped: boolean } => {
    const from = resumeAfter;
    let to = (nth(from !== null, false).get({ ...keyParams(from, null), skip: scan - 1 }) ??
      null) as Key | null;
    const lastOfLimit = nthEnded(from !== null, to !== null).get({
      ...keyParams(from, to),
      before,
      skip: limit - 1,
    }) as Key | undefined;
    if (lastOfLimit) to = lastOfLimit;
    const { changes } = remove(from !== null, to !== null).run({ ...keyParams(from, to), before });
    // Past the last row: the next call starts over.
    resumeAfter = to;
    return { removed: changes, wrapped: to === null };
  });
  // Stretch after stretch, the event loop free between them, until `limit` rows are gone or the
  // walk reaches the last row: an answer below `limit` then says this walk found no more (the
  // sweep stops asking until its next run), as it did with the index.
  return async (before, limit) => {
    let removed = 0;
    for (let stretches = 0; removed < limit && stretches < MAX_STRETCHES_PER_CALL; stretches++) {
      const done = stretch.immediate(before, limit - removed);
      removed += done.removed;
      if (done.wrapped) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return removed;
  };
}
