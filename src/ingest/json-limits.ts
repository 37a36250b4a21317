import type { ErrorDetail } from '../api/errors.ts';
import { unstorableText } from '../shared/storable-text.ts';

/**
 * Limits on any JSON value a caller sends, checked in one walk before anything is stored.
 * Each is a value a store or a later step cannot keep faithfully, and that, committed together
 * with other callers' events, used to fail all of them (issue 9, finding 3):
 * - nesting deeper than {@link MAX_JSON_DEPTH} levels (stack depth in JSON functions);
 * - NUL characters and unpaired UTF-16 surrogates (PostgreSQL `jsonb` and `text` refuse both);
 * - numbers JSON cannot keep: `1e400` parses to Infinity and is stored as null, and integers
 *   beyond ±(2^53 − 1) are silently rounded, so the caller is told to send them as strings.
 */
export const MAX_JSON_DEPTH = 32;

function numberProblem(n: number): string | null {
  if (!Number.isFinite(n)) return 'is a number too large for JSON to keep; send it as a string';
  if (Number.isInteger(n) && (n > Number.MAX_SAFE_INTEGER || n < -Number.MAX_SAFE_INTEGER)) {
    return 'is an integer beyond ±9007199254740991 that would be rounded; send it as a string';
  }
  return null;
}

/** `['data', 'a', 3]` under `events[2]` → `events[2].data.a[3]`. */
function formatPath(prefix: string, keys: (string | number)[]): string {
  let out = prefix;
  for (const key of keys) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? key : `.${key}`;
  }
  return out;
}

/**
 * Walks `value` once (every value and key, stopping at the first problem) and answers the
 * problem with the path of the bad value, or null. Work is linear in the size of the value, and
 * the walk never goes deeper than `maxDepth`, however deep the value is.
 *
 * @example
 * findJsonProblem({ data: { a: { b: [0, 1, 2, '\u0000'] } } });
 * // { path: 'data.a.b[3]', message: 'must not contain NUL (\\u0000) characters' }
 */
export function findJsonProblem(value: unknown, prefix = '', maxDepth = MAX_JSON_DEPTH): ErrorDetail | null {
  const keys: (string | number)[] = [];
  let found: string | null = null;

  const walk = (node: unknown, depth: number): boolean => {
    switch (typeof node) {
      case 'string':
        found = unstorableText(node);
        return found === null;
      case 'number':
        found = numberProblem(node);
        return found === null;
      case 'object': {
        if (node === null) return true;
        if (depth >= maxDepth) {
          found = `nests deeper than ${maxDepth} levels of objects and arrays`;
          return false;
        }
        if (Array.isArray(node)) {
          for (let i = 0; i < node.length; i++) {
            keys.push(i);
            if (!walk(node[i], depth + 1)) return false;
            keys.pop();
          }
          return true;
        }
        for (const key in node) {
          keys.push(key);
          found = unstorableText(key);
          if (found !== null) return false;
          if (!walk((node as Record<string, unknown>)[key], depth + 1)) return false;
          keys.pop();
        }
        return true;
      }
      default:
        return true;
    }
  };

  if (walk(value, 0)) return null;
  return { path: formatPath(prefix, keys), message: found ?? 'is not acceptable JSON' };
}
