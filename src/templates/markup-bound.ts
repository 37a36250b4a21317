/**
 * How much Liquid one template field may hold, checked before it is parsed.
 *
 * LiquidJS hands a template's tokens from one array to the next with `Array#shift`, which is linear
 * in the array's length once it is large (past ~16,000 entries), so parsing grows with the square
 * of the markup: 19,000 `{{a}}` (95 KB, inside the 100,000-character parse limit) took 250–400 ms,
 * and 7,700 `{% when %}` 180 ms — each on the API thread at `PUT`, where one 1 MB workflow of ten
 * such fields held every other tenant's requests for 3–4 s. Below this bound a field parses in a
 * few milliseconds. Real templates hold tens to hundreds of tags.
 */
export const MAX_TEMPLATE_MARKUP = 5_000;

const OUTPUTS = /\{\{/g;
const LIQUID_TAG = /^-?\s*liquid\b/;

/**
 * Outputs and tags in `source`, and the lines inside its `{% liquid %}` tags (one statement a line,
 * each a token of its own). One pass: each tag is looked at once, from its `{%` to its `%}`.
 */
export function markupCount(source: string): number {
  let count = source.match(OUTPUTS)?.length ?? 0;
  for (let at = source.indexOf('{%'); at !== -1; ) {
    count++;
    const end = source.indexOf('%}', at + 2);
    if (end === -1) break;
    const inside = source.slice(at + 2, end);
    if (LIQUID_TAG.test(inside)) count += inside.split('\n').length - 1;
    at = source.indexOf('{%', end + 2);
  }
  return count;
}

/** Why `source` holds more markup than a field may, or null. */
export function markupProblem(source: string): string | null {
  const count = markupCount(source);
  if (count <= MAX_TEMPLATE_MARKUP) return null;
  return `holds ${count} Liquid tags, outputs and {% liquid %} lines; a field may hold at most ${MAX_TEMPLATE_MARKUP} (split it across fields or steps, or loop over data)`;
}
