/** The push template field that carries the app's own keys (API.md: `data` (JSON)). */
export const DATA_FIELD = 'data';

/** Liquid markup: an output or a tag opening. */
const MARKUP = /\{[{%]/;

/**
 * A push `data` template written as a JSON object (`{"orderId": "{{ data.id }}"}`), as the
 * Liquid text that renders it value by value: each string holding markup is captured and printed
 * through `json`, so a rendered value with a quote, a backslash or a newline stays one JSON string
 * instead of breaking the object. Everything else is printed as the JSON it is, its `{` written
 * `\u007b` inside strings so no key or literal value is read as markup. Null when the template is
 * not such an object (plain text, or JSON with no markup): it renders as written.
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
  const write = (node: unknown): string => {
    if (typeof node === 'string') {
      if (!MARKUP.test(node)) return literal(node);
      const name = `_td${captures++}`;
      return `{% capture ${name} %}${node}{% endcapture %}{{ ${name} | json }}`;
    }
    if (Array.isArray(node)) return `[${node.map(write).join(',')}]`;
    if (typeof node === 'object' && node !== null)
      return `{${Object.entries(node)
        .map(([key, item]) => `${literal(key)}:${write(item)}`)
        .join(',')}}`;
    return JSON.stringify(node);
  };
  return write(value);
}
