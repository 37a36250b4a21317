import type Database from 'better-sqlite3';
import type { SizedPage } from '../port.ts';
import type { MessageRow } from '../rows.ts';

/**
 * A SizedPage of a list whose rows `statement` answers in the list's order, its `@limit` bound to
 * one past the page: read a row at a time (iterate), so the read stops at the row that would take
 * the page past `maxBytes` — or at the row after `limit` — and no row after that is read at all.
 * That one row, read as its columns' text but neither parsed nor answered, says more remain.
 * `bytesOf` sizes a row from its columns' text (the JSON columns that may be large).
 *
 * @example
 * return sizedPage(statement, { tenantId, limit }, page, (row) => row.definition.length, toWorkflow);
 */
export function sizedPage<R, T>(
  statement: Database.Statement,
  params: Record<string, unknown>,
  page: { limit: number; maxBytes: number },
  bytesOf: (row: R) => number,
  toRecord: (row: R) => T,
): SizedPage<T> {
  const rows: T[] = [];
  let bytes = 0;
  for (const row of statement.iterate({ ...params, limit: page.limit + 1 }) as Iterable<R>) {
    // Leaving the loop resets the statement: the rows after this one are never stepped to.
    if (rows.length === page.limit) return { rows, more: true };
    bytes += bytesOf(row);
    if (rows.length > 0 && bytes > page.maxBytes) return { rows, more: true };
    rows.push(toRecord(row));
  }
  return { rows, more: false };
}

/** A message row's size in a SizedPage: its JSON columns' text (content and data may be megabytes). */
export function messageRowBytes(row: MessageRow): number {
  return row.content.length + row.data.length + row.meta.length + row.timeline.length;
}
