import type { SizedPage } from '../port.ts';
import { type Queryable, run } from './client.ts';

/** A message row's size in a SizedPage, as SQL on the row `t`: its JSON columns' text. */
export const MESSAGE_BYTES = `octet_length(t.content::TEXT) + octet_length(t.data::TEXT)
  + octet_length(t.meta::TEXT) + octet_length(t.timeline::TEXT)`;

/** A list as sizedPage reads it: the rows `t` of `table` that `where` keeps, in `order`. */
export interface SizedList {
  table: string;
  /** The list's filter on `t`, with where its page starts, as its list query has it. */
  where: string;
  /** The list's ORDER BY on `t`. */
  order: string;
  /** The `$n` of `where`. */
  values: unknown[];
  /**
   * A row's size, as SQL on `t`: its JSON columns as text (`octet_length(t.col::TEXT)`), since a
   * jsonb value's stored size says nothing of a compressed one's (1.6 MB of content is 18 kB stored).
   */
  bytes: string;
}

/**
 * A SizedPage of `list` in one statement that reads the page a row at a time. The row ids (ctid)
 * of up to `limit` + 1 rows are listed first, by the list's own query (no column read); then the
 * rows are read by row id, each sized, until the one that would take the page past `maxBytes`:
 * that one is sized but neither sent nor parsed, and says more remain. So however small and large
 * rows are ordered, a page reads its own content and one row's size. Tried and dropped: a window
 * sum over the page's LIMIT sizes every row of it — up to `limit` of 2 MB each, on every page;
 * a step by key instead of row id was planned, on a table not yet analyzed, as a scan of the
 * tenant's index entries at every step. A row id is a TID scan whatever the statistics, and
 * names the same row version all through the statement (one snapshot).
 *
 * @example
 * const list = { table: 'workflows', where: 't.tenant_id = $1', order: 't.key', values: [tenantId],
 *   bytes: 'octet_length(t.definition::TEXT)' };
 * return sizedPage(db, list, { limit: 50, maxBytes: PAGE_BYTES }, toWorkflow);
 */
export async function sizedPage<R, T>(
  db: Queryable,
  list: SizedList,
  page: { limit: number; maxBytes: number },
  toRecord: (row: R) => T,
): Promise<SizedPage<T>> {
  const values = [...list.values];
  const limit = `$${values.push(page.limit)}::INT`;
  const maxBytes = `$${values.push(page.maxBytes)}::BIGINT`;
  // One row by its row id, sized (a subquery kept whole by its LIMIT, so the id is a parameter).
  const row = (id: string) =>
    `SELECT t.*, (${list.bytes})::BIGINT AS row_bytes FROM ${list.table} t WHERE t.ctid = ${id} LIMIT 1`;
  // Whether walk row `w` is in the page: the first, or within maxBytes with those before it.
  const inPage = `(w.page_n = 1 OR w.page_bytes <= ${maxBytes})`;
  const { rows } = await run<R & { listed: number }>(
    db,
    `WITH RECURSIVE
       page AS (SELECT ARRAY(SELECT t.ctid FROM ${list.table} t WHERE ${list.where}
                              ORDER BY ${list.order} LIMIT ${limit} + 1) AS ids),
       walk AS (
         SELECT r.*, 1 AS page_n, r.row_bytes AS page_bytes
           FROM page CROSS JOIN LATERAL (${row('page.ids[1]')}) r
         UNION ALL
         SELECT r.*, w.page_n + 1, w.page_bytes + r.row_bytes
           FROM walk w CROSS JOIN page CROSS JOIN LATERAL (${row('page.ids[w.page_n + 1]')}) r
          WHERE ${inPage} AND w.page_n < ${limit})
     SELECT w.*, cardinality(page.ids) AS listed FROM walk w CROSS JOIN page WHERE ${inPage} ORDER BY w.page_n`,
    values,
  );
  // The page is the first rows of those listed (up to `limit` + 1): more remain past a shorter one.
  return { rows: rows.map(toRecord), more: rows.length > 0 && rows[0]!.listed > rows.length };
}
