import { isDeepStrictEqual } from 'node:util';
import type { ErrorDetail } from './errors.ts';

type Key = string | number;

/**
 * Every way `path` (as details name fields: `channels[0].locales.es`) reads as keys of `root`. A
 * key may itself hold '.' or '[' (a message key "a.b"), so each split along the keys `root` has is
 * tried; a key of digits may be written `[n]` (pointerToPath writes it so).
 */
function readings(root: unknown, path: string): Key[][] {
  const found: Key[][] = [];
  const walk = (node: unknown, rest: string, keys: Key[]) => {
    if (rest === '') {
      found.push(keys);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const index = /^\[(\d+)\]/.exec(rest);
    if (Array.isArray(node)) {
      if (index) walk(node[Number(index[1])], rest.slice(index[0].length), [...keys, Number(index[1])]);
      return;
    }
    const record = node as Record<string, unknown>;
    if (index && Object.hasOwn(record, index[1]!))
      walk(record[index[1]!], rest.slice(index[0].length), [...keys, index[1]!]);
    const named = keys.length === 0 ? rest : rest.startsWith('.') ? rest.slice(1) : null;
    if (named === null) return;
    for (const key of Object.keys(record)) {
      const next = named[key.length];
      if (named.startsWith(key) && (next === undefined || next === '.' || next === '['))
        walk(record[key], named.slice(key.length), [...keys, key]);
    }
  };
  walk(root, path, []);
  return found;
}

function valueAt(root: unknown, keys: Key[]): unknown {
  let node = root;
  for (const key of keys) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<Key, unknown>)[key];
  }
  return node;
}

/**
 * Whether the value `path` names in `given` is there, and is the very value `stored` holds there
 * (deep equality, key order aside: PostgreSQL's jsonb keeps no order).
 */
export function unchangedAt(given: unknown, stored: unknown, path: string): boolean {
  const ways = readings(given, path);
  return (
    ways.length > 0 &&
    ways.every((keys) => {
      const value = valueAt(given, keys);
      return value !== undefined && isDeepStrictEqual(value, valueAt(stored, keys));
    })
  );
}

const detailKey = (detail: ErrorDetail) => `${detail.path}\u0000${detail.message}`;

/** A stored version to hold a replacement against, and what the same checks say of it. */
export interface StoredVersion {
  definition: unknown;
  details: () => Promise<ErrorDetail[]>;
}

/**
 * The rule for what a replacement (`PUT` of a whole resource) is refused for: a rule added for
 * input applies to what changes. A problem is forgiven when the stored version has the very same
 * problem (same path, same words) at a value the replacement leaves exactly as it is, so a
 * resource stored before a rule can still be replaced with itself plus a change (a workflow's
 * `paused: true`, its kill switch). A problem the change brings in (a new value, or an old value
 * that another change makes wrong, such as a message key a template still names) is not.
 *
 * `stored` is read only when there is a problem, and what the checks say of it only when some
 * problem's value is unchanged: a valid replacement, or a refused new value, costs no second check.
 */
export async function newProblems(
  details: ErrorDetail[],
  given: unknown,
  storedVersion: () => Promise<StoredVersion | null>,
): Promise<ErrorDetail[]> {
  if (details.length === 0) return details;
  const stored = await storedVersion();
  if (stored === null) return details;
  const kept = details.filter((detail) => unchangedAt(given, stored.definition, detail.path));
  if (kept.length === 0) return details;
  const had = new Set((await stored.details()).map(detailKey));
  return details.filter((detail) => !(kept.includes(detail) && had.has(detailKey(detail))));
}
