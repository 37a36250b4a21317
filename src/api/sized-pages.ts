import { TimeSlices } from '../shared/time-slices.ts';

/**
 * About how much of its rows' JSON one page of a list of large rows holds (workflow definitions,
 * each up to a request body; message contents, each up to MAX_MESSAGE_CHARS): a page stops short
 * of `limit` once its rows reach this.
 */
export const PAGE_BYTES = 1024 * 1024;

/** Rows read by the first query: most rows are small, and the rest are then read in one go. */
const FIRST_BATCH = 2;

/**
 * The rows of one page of a list whose rows may each be as large as a request body, read in
 * batches sized to what is left of PAGE_BYTES, the event loop given back between them. Found by
 * the hostile-input sweep: 100 versions of a workflow of 0.9 MB each were read, parsed and
 * answered as one 89 MB body, holding the event loop — every tenant's requests — for 1.2–1.8 s.
 *
 * `read(after, count)` answers up to `count` rows after row `after` (from the list's start when
 * undefined), in the list's order. Answers the page's rows plus, when there is a next page, one
 * more; and the page's size — `limit`, or fewer when PAGE_BYTES was reached first (never none) —
 * to give pageOf, which then issues the cursor after the page's last row.
 *
 * @example
 * const { rows, size } = await readSized((after, count) => store.listX(after?.key, count), 50, bytesOf);
 * return pageOf(rows, size, TAG, (row) => row.key, view);
 */
export async function readSized<T>(
  read: (after: T | undefined, count: number) => Promise<T[]>,
  limit: number,
  bytesOf: (row: T) => number,
): Promise<{ rows: T[]; size: number }> {
  const slices = new TimeSlices();
  const rows: T[] = [];
  let bytes = 0;
  let count = Math.min(FIRST_BATCH, limit + 1);
  for (;;) {
    const batch = await read(rows.at(-1), count);
    for (const row of batch) {
      const size = bytesOf(row);
      // This row starts the next page: the page is full, or would pass PAGE_BYTES with it.
      if (rows.length === limit || (rows.length > 0 && bytes + size > PAGE_BYTES)) {
        rows.push(row);
        return { rows, size: rows.length - 1 };
      }
      rows.push(row);
      bytes += size;
    }
    if (batch.length < count) return { rows, size: rows.length };
    await slices.yieldIfDue();
    // As many rows as fit in what is left, at the mean size read so far (one at least).
    const fit = Math.floor((PAGE_BYTES - bytes) / Math.max(1, bytes / rows.length));
    count = Math.max(1, Math.min(limit + 1 - rows.length, fit));
  }
}

/** A stored definition's size as the page answers it. */
export function jsonBytes(value: unknown): number {
  return JSON.stringify(value)?.length ?? 0;
}
