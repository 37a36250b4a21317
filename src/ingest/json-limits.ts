import type { TSchema } from 'typebox';
import type { ErrorDetail } from '../api/errors.ts';
import { unstorableText } from '../shared/storable-text.ts';

/**
 * Limits on any JSON value a caller sends, checked in one walk before anything is stored.
 * Each is a value a store or a later step cannot keep faithfully, and that, committed together
 * with other callers' events, used to fail all of them (issue 9, finding 3):
 * - nesting deeper than {@link MAX_JSON_DEPTH} levels (stack depth in JSON functions);
 * - NUL characters and unpaired UTF-16 surrogates (PostgreSQL `jsonb` and `text` refuse both);
 * - numbers JSON cannot keep: `1e400` parses to Infinity and is stored as null, integers
 *   beyond ±(2^53 − 1) are silently rounded, and PostgreSQL writes `1e-300` out digit by digit
 *   (see TINIEST). The message says what the field accepts instead
 *   (see {@link numberMessage}): "send it as a string" only where a string is accepted.
 */
export const MAX_JSON_DEPTH = 32;

const SAFE = Number.MAX_SAFE_INTEGER;

/**
 * The nearest to 0 a non-zero number may be. PostgreSQL's jsonb keeps numbers as `numeric` and
 * writes them back in full: `1e-300` (6 characters sent) is read as 302, so a megabyte of such
 * numbers in an event's data became tens of megabytes in every message read. Down to here a
 * number reads back at most a few times its sent length.
 */
const TINIEST = 1e-20;

function keepsNumber(n: number): boolean {
  if (!Number.isFinite(n)) return false;
  if (Number.isInteger(n)) return n <= SAFE && n >= -SAFE;
  return Math.abs(n) >= TINIEST;
}

type Schema = Record<string, unknown>;

/** `{}` (Type.Unknown, Type.Any, a Record's values): any JSON value, a string too. */
function isFreeForm(schema: Schema): boolean {
  return !['type', 'anyOf', 'oneOf', 'allOf', 'enum', 'const', 'not', '$ref'].some((k) => k in schema);
}

function hasType(schema: Schema, type: string): boolean {
  return Array.isArray(schema.type) ? schema.type.includes(type) : schema.type === type;
}

/** The alternatives a schema allows, unions and intersections spread out (an approximation for allOf). */
function alternatives(schema: Schema): Schema[] {
  const branches = (schema.anyOf ?? schema.oneOf ?? schema.allOf) as Schema[] | undefined;
  return Array.isArray(branches) ? branches.flatMap(alternatives) : [schema];
}

/** The schemas the value at `key` of a value held to `schema` may be held to (none: not a known place). */
function childSchemas(schema: Schema, key: string | number): Schema[] {
  const out: Schema[] = [];
  for (const option of alternatives(schema)) {
    if (isFreeForm(option)) out.push({});
    else if (typeof key === 'number' && hasType(option, 'array')) {
      const items = option.prefixItems ?? option.items;
      const item = Array.isArray(items) ? (items[key] ?? option.additionalItems) : items;
      if (item === undefined || item === true) out.push({});
      else if (item && typeof item === 'object') out.push(item as Schema);
    } else if (typeof key === 'string' && hasType(option, 'object')) {
      const properties = option.properties as Record<string, Schema> | undefined;
      if (properties && Object.hasOwn(properties, key)) {
        out.push(properties[key]!);
        continue;
      }
      const patterns = Object.entries((option.patternProperties ?? {}) as Record<string, Schema>);
      const matching = patterns.filter(([pattern]) => new RegExp(pattern).test(key));
      if (matching.length > 0) out.push(...matching.map(([, value]) => value));
      else if (option.additionalProperties === undefined || option.additionalProperties === true)
        out.push({});
      else if (typeof option.additionalProperties === 'object')
        out.push(option.additionalProperties as Schema);
    }
  }
  return out;
}

/**
 * What to tell the caller about a number JSON cannot keep (`n`), held by `schema` at `keys`: a
 * field that takes any value or any string is told to send it as a string; a numeric field is
 * told its range (the field would refuse a string); any other field is only told what is wrong.
 * Without a schema, the whole value is taken as free-form JSON.
 */
function numberMessage(n: number, schema: TSchema | undefined, keys: (string | number)[]): string {
  const what = !Number.isFinite(n)
    ? 'is a number too large for JSON to keep'
    : Number.isInteger(n)
      ? 'is an integer beyond ±9007199254740991 that would be rounded'
      : `is a number nearer 0 than ${TINIEST} (stored, it would be written out in full)`;
  let options: Schema[] = schema === undefined ? [{}] : alternatives(schema as Schema);
  for (const key of keys) options = options.flatMap((option) => childSchemas(option, key));
  options = options.flatMap(alternatives);
  if (options.some(isFreeForm)) return `${what}; send it as a string`;
  const numeric = options.filter((o) => hasType(o, 'integer') || hasType(o, 'number'));
  if (numeric.length > 0) {
    const bound = (key: 'minimum' | 'maximum', fallback: number, pick: (...v: number[]) => number) =>
      numeric.every((o) => typeof o[key] === 'number')
        ? Math.max(-SAFE, Math.min(SAFE, pick(...numeric.map((o) => o[key] as number))))
        : fallback;
    const low = bound('minimum', -SAFE, Math.min);
    const high = bound('maximum', SAFE, Math.max);
    const kind = numeric.every((o) => hasType(o, 'integer')) ? 'an integer' : 'a number';
    return `must be ${kind} from ${low} to ${high}`;
  }
  // A string that is only a pattern's or a format's would not take the digits either.
  const anyString = options.some(
    (o) => hasType(o, 'string') && !('pattern' in o) && !('format' in o) && !('enum' in o) && !('const' in o),
  );
  return anyString ? `${what}; send it as a string` : what;
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

export interface JsonProblemOptions {
  /** The schema the value is held to: a number problem's message says what its field accepts. */
  schema?: TSchema;
  /** Put before each path, e.g. `events[2]`. */
  prefix?: string;
  maxDepth?: number;
}

/**
 * Walks `value` once (every value and key, stopping at the first problem) and answers the
 * problem with the path of the bad value, or null. Work is linear in the size of the value, and
 * the walk never goes deeper than `maxDepth`, however deep the value is. The schema is read only
 * when a number is found that JSON cannot keep.
 *
 * @example
 * findJsonProblem({ data: { a: { b: [0, 1, 2, '\u0000'] } } });
 * // { path: 'data.a.b[3]', message: 'must not contain NUL (\\u0000) characters' }
 */
export function findJsonProblem(
  value: unknown,
  { schema, prefix = '', maxDepth = MAX_JSON_DEPTH }: JsonProblemOptions = {},
): ErrorDetail | null {
  const keys: (string | number)[] = [];
  let found: string | null = null;

  const walk = (node: unknown, depth: number): boolean => {
    switch (typeof node) {
      case 'string':
        found = unstorableText(node);
        return found === null;
      case 'number':
        if (keepsNumber(node)) return true;
        found = numberMessage(node, schema, keys);
        return false;
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
