/** The push template field that carries the app's own keys (API.md: `data` (JSON)). */
export const DATA_FIELD = 'data';

/** Liquid markup: an output or a tag opening (a field holding none renders as written). */
export const MARKUP = /\{[{%]/;

/** Deepest nesting of objects and arrays a `data` object may have: each level is a call here and in V8's JSON. */
export const MAX_DATA_DEPTH = 32;

/**
 * Tags that would end the capture a value is rendered in (or hide its end), letting the value
 * write outside its JSON string.
 */
const CAPTURE_TAGS = /\{%-?\s*(?:end)?(?:capture|raw|comment)\b/;

/** A `data` object the value-by-value rendering cannot take: refused at PUT, fails its messages if stored. */
export class JsonDataError extends Error {
  override name = 'JsonDataError';
}

/**
 * A push `data` template written as a JSON object (`{"orderId": "{{ data.id }}"}`), as the
 * Liquid text that renders it value by value: each string holding markup is captured and printed
 * through `json`, so a rendered value with a quote, a backslash or a newline stays one JSON string
 * instead of breaking the object. Everything else is printed as the JSON it is, its `{` written
 * `\u007b` inside strings so no key or literal value is read as markup. Null when the template is
 * not such an object (plain text, or JSON with no markup): it renders as written. Throws
 * JsonDataError for an object nested past MAX_DATA_DEPTH or a value holding tags that would end
 * its capture.
 *
 * @example
 * jsonDataSource('{"id": "{{ data.id }}", "n": 3}');
 * // '{"id":{% capture _td0 %}{{ data.id }}{% endcapture %}{{ _td0 | json }},"n":3}'
 */
export function jsonDataSource(source: string): string | null {
  if (!MARKUP.test(source)) return null;
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  let captures = 0;
  const literal = (text: string) => JSON.stringify(text).replace(/\{/g, '\\u007b');
  const write = (node: unknown, depth: number): string => {
    if (typeof node === 'string') {
      if (!MARKUP.test(node)) return literal(node);
      if (CAPTURE_TAGS.test(node))
        throw new JsonDataError(
          'a value may not hold capture, raw or comment tags (each value renders as one string)',
        );
      const name = `_td${captures++}`;
      return `{% capture ${name} %}${node}{% endcapture %}{{ ${name} | json }}`;
    }
    if (typeof node !== 'object' || node === null) return JSON.stringify(node);
    if (depth >= MAX_DATA_DEPTH)
      throw new JsonDataError(`nests objects and arrays deeper than ${MAX_DATA_DEPTH} levels`);
    if (Array.isArray(node)) return `[${node.map((item) => write(item, depth + 1)).join(',')}]`;
    return `{${Object.entries(node)
      .map(([key, item]) => `${literal(key)}:${write(item, depth + 1)}`)
      .join(',')}}`;
  };
  return write(value, 0);
}
