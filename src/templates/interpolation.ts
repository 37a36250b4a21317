import type { MessageBook } from './messages.ts';

/**
 * Most notification templates are text with `{{ data.x }}` / `{{ subscriber.firstName }}` holes.
 * LiquidJS renders those through generators, filters and a scope chain — about as much CPU as
 * writing the message row. This renders exactly that subset directly, and says when it cannot,
 * so LiquidJS renders everything else (tags, filters, arrays, objects, `size`/`first`/`last`).
 * Its output equals LiquidJS's for every template and value it accepts (test/unit/templates).
 */

/** A literal piece of text, the property path of one `{{ a.b.c }}` output, or one message. */
export type Part = string | readonly string[] | MessagePart;

/** `{{ "key" | t: name: a.b, other: c }}`: a message of the recipient's catalogue, its arguments paths. */
export interface MessagePart {
  key: string;
  args: readonly (readonly [string, readonly string[]])[];
}

/** What formats a message part: the recipient's messages. */
type Messages = Pick<MessageBook, 'format'>;

// `{{ a.b.c }}`: plain identifiers only, no filters, no whitespace control, no brackets.
// `{{ "key" | t }}` / `{{ 'key' | t: name: a.b, … }}`: a quoted key without quotes or backslashes in
// it, then named arguments that are paths like the above.
const PATH = '[A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*)*';
const ARG = `[A-Za-z_][A-Za-z0-9_]*\\s*:\\s*${PATH}`;
const OUTPUT = new RegExp(
  `\\{\\{\\s*(?:(${PATH})|"([^"\\\\]*)"\\s*\\|\\s*t(?:\\s*:\\s*(${ARG}(?:\\s*,\\s*${ARG})*))?|'([^'\\\\]*)'\\s*\\|\\s*t(?:\\s*:\\s*(${ARG}(?:\\s*,\\s*${ARG})*))?)\\s*\\}\\}`,
  'g',
);
// Names LiquidJS reads specially (collection size, first and last element).
const SPECIAL = new Set(['size', 'first', 'last']);

/** The parts of `source` when it is plain text and simple outputs only; otherwise null. */
export function plainInterpolation(source: string): Part[] | null {
  const parts: Part[] = [];
  let from = 0;
  for (const match of source.matchAll(OUTPUT)) {
    if (!pushText(parts, source.slice(from, match.index))) return null;
    from = match.index + match[0].length;
    const key = match[2] ?? match[4];
    if (key !== undefined) {
      const args = messageArgs(match[3] ?? match[5]);
      if (!args) return null;
      parts.push({ key, args });
      continue;
    }
    const path = match[1]!.split('.');
    if (path.some((name) => SPECIAL.has(name))) return null;
    parts.push(path);
  }
  return pushText(parts, source.slice(from)) ? parts : null;
}

/** `name: a.b, other: c` as [name, path] pairs; null when a name repeats or a path is special. */
function messageArgs(list: string | undefined): MessagePart['args'] | null {
  if (list === undefined) return [];
  const args: [string, string[]][] = [];
  for (const arg of list.split(',')) {
    const [name, value] = arg.split(':').map((piece) => piece.trim()) as [string, string];
    const path = value.split('.');
    if (path.some((step) => SPECIAL.has(step)) || args.some(([other]) => other === name)) return null;
    args.push([name, path]);
  }
  return args;
}

/** Text must hold no other Liquid markup. */
function pushText(parts: Part[], text: string): boolean {
  if (text.includes('{{') || text.includes('{%')) return false;
  if (text) parts.push(text);
  return true;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&#34;',
  "'": '&#39;',
};
const ESCAPED = /[&<>"']/g;

/**
 * Renders `parts` against `scope` as LiquidJS would, HTML-escaping every output when `html`.
 * Answers undefined when a value is not a string, number, boolean or nothing (LiquidJS formats
 * arrays and objects its own way), when a step walks through something other than a plain
 * object, or when escaping would pass LiquidJS's `memoryLimit`: the caller then renders with
 * LiquidJS (which, for the last, refuses).
 */
export function interpolate(
  parts: readonly Part[],
  scope: object,
  html: boolean,
  memoryLimit: number,
  messages: Messages | null = null,
  timeZone?: string,
): string | undefined {
  let out = '';
  let escaped = 0;
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    let text: string;
    if (isMessagePart(part)) {
      const formatted = message(part, scope, messages, timeZone);
      if (formatted === undefined) return undefined;
      text = formatted;
    } else {
      const value = valueAt(scope, part);
      if (value === null || value === undefined) text = '';
      else if (typeof value === 'string') text = value;
      else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
      else return undefined;
    }
    if (!html) {
      out += text;
      continue;
    }
    // LiquidJS's escape filter counts what it escapes against the render's memory limit.
    escaped += text.length;
    if (escaped > memoryLimit) return undefined;
    out += text.replace(ESCAPED, (c) => ESCAPES[c]!);
  }
  return out;
}

function isMessagePart(part: readonly string[] | MessagePart): part is MessagePart {
  return !Array.isArray(part);
}

/** The value at `path` as LiquidJS reads it; NOT_PLAIN when a step walks through something else. */
function valueAt(scope: object, path: readonly string[]): unknown {
  let value: unknown = scope;
  for (const name of path) {
    if (value === null || value === undefined) break;
    if (!isPlainObject(value)) return NOT_PLAIN;
    // LiquidJS reads own properties only.
    value = Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
  }
  return value;
}

const NOT_PLAIN = Symbol('not a plain value');

/**
 * The message as the `t` filter formats it (src/templates/intl-filters.ts), or undefined for
 * anything that is not the plain case — no messages, an argument that is not a string, number or
 * boolean, a message that does not format — so LiquidJS renders it and reports what is wrong.
 */
function message(
  part: MessagePart,
  scope: object,
  messages: Messages | null,
  timeZone: string | undefined,
): string | undefined {
  if (!messages) return undefined;
  const values: Record<string, string | number | boolean> = Object.create(null);
  for (const [name, path] of part.args) {
    const value = valueAt(scope, path);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      return undefined;
    values[name] = value;
  }
  try {
    return messages.format(part.key, values, timeZone);
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
