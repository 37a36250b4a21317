import Type from 'typebox';
import { validationError } from './errors.ts';
import { decodeCursor, encodeCursor } from './views.ts';

/**
 * The longest `cursor` a list takes: room for the longest it issues, a position of one id of
 * 100 characters of up to 4 UTF-8 bytes each (a 100-character CJK id makes a cursor of ~400).
 */
export const CURSOR_MAX_LENGTH = 1000;

/**
 * A list's `nextCursor`: the list's tag, then the position the next page starts from, encoded
 * opaquely (encodeCursor). The tag tells one list's cursors from another's.
 *
 * @example
 * issueCursor('m1', 'msg_01jd4k8r2x…'); // what GET /v1/messages answers as nextCursor
 */
export function issueCursor(tag: string, ...position: (string | number)[]): string {
  return encodeCursor([tag, ...position]);
}

/**
 * The position held by a cursor this API issued with `tag` (issueCursor) and `size` parts.
 * Anything else — text that is not a cursor, another list's cursor, a forged one, or one not in
 * the canonical encoding — is a 400 naming `cursor`, never a page read from somewhere else.
 *
 * @example
 * readCursor(query.cursor, 'm1', 1); // ['msg_01jd4k8r2x…'], or throws validation_failed
 */
export function readCursor(cursor: string, tag: string, size: number): string[] {
  const parts = decodeCursor(cursor);
  if (parts?.length !== size + 1 || parts[0] !== tag || encodeCursor(parts) !== cursor)
    throw validationError([{ path: 'cursor', message: 'is not a cursor this API issued' }], 'query');
  return parts.slice(1);
}

/**
 * For a list that is always one page (its `nextCursor` is always null), so never issues a cursor:
 * any `cursor` is one this API did not issue — the same 400 naming `cursor` as on every list.
 */
export function refuseCursor(cursor: string | undefined): void {
  if (cursor !== undefined)
    throw validationError(
      [{ path: 'cursor', message: 'is not a cursor this API issued (this list is always one page)' }],
      'query',
    );
}

/**
 * The query of a list that is always one page: a `cursor` is accepted by the schema, then refused
 * (refuseCursor); any other parameter is a 400 naming it, as on the lists that page. `limit` is
 * one of those: a page bound on a list that never pages would be taken and do nothing.
 */
export const OnePageQuery = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({
        maxLength: CURSOR_MAX_LENGTH,
        description: 'never issued: the list is always one page (any cursor is a 400)',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * A list's answer for a page of rows: their views, and a cursor (tagged `tag`) after the last of
 * them when `more` remain — never a cursor to an empty page. `keyOf` is the position a next page
 * starts after. Lists of large rows get their SizedPage from the store in this shape.
 */
export function sizedAnswer<T, V>(
  page: { rows: readonly T[]; more: boolean },
  tag: string,
  keyOf: (row: T) => string,
  view: (row: T) => V,
): { items: V[]; nextCursor: string | null } {
  const last = page.rows.at(-1);
  return {
    items: page.rows.map(view),
    nextCursor: page.more && last !== undefined ? issueCursor(tag, keyOf(last)) : null,
  };
}

/**
 * A list's page from rows read one past `limit`: there is a next page exactly when that extra
 * row came back, so the last page never points at an empty one.
 */
export function pageOf<T, V>(
  rows: readonly T[],
  limit: number,
  tag: string,
  keyOf: (row: T) => string,
  view: (row: T) => V,
): { items: V[]; nextCursor: string | null } {
  return sizedAnswer({ rows: rows.slice(0, limit), more: rows.length > limit }, tag, keyOf, view);
}
