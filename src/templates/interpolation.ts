/**
 * Most notification templates are text with `{{ data.x }}` / `{{ subscriber.firstName }}` holes.
 * LiquidJS renders those through generators, filters and a scope chain — about as much CPU as
 * writing the message row. This renders exactly that subset directly, and says when it cannot,
 * so LiquidJS renders everything else (tags, filters, arrays, objects, `size`/`first`/`last`).
 * Its output equals LiquidJS's for every template and value it accepts (test/unit/templates).
 */

/** A literal piece of text, or the property path of one `{{ a.b.c }}` output. */
export type Part = string | readonly string[];

// `{{ a.b.c }}`: plain identifiers only, no filters, no whitespace control, no brackets.
const OUTPUT = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;
// Names LiquidJS reads specially (collection size, first and last element).
const SPECIAL = new Set(['size', 'first', 'last']);

/** The parts of `source` when it is plain text and simple outputs only; otherwise null. */
export function plainInterpolation(source: string): Part[] | null {
  const parts: Part[] = [];
  let from = 0;
  for (const match of source.matchAll(OUTPUT)) {
    if (!pushText(parts, source.slice(from, match.index))) return null;
    const path = match[1]!.split('.');
    if (path.some((name) => SPECIAL.has(name))) return null;
    parts.push(path);
    from = match.index + match[0].length;
  }
  return pushText(parts, source.slice(from)) ? parts : null;
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
): string | undefined {
  let out = '';
  let escaped = 0;
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    let value: unknown = scope;
    for (const name of part) {
      if (value === null || value === undefined) break;
      if (!isPlainObject(value)) return undefined;
      // LiquidJS reads own properties only.
      value = Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
    }
    let text: string;
    if (value === null || value === undefined) text = '';
    else if (typeof value === 'string') text = value;
    else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
    else return undefined;
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

function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
