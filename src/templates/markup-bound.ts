import { type Liquid, Tokenizer, type TopLevelToken, TypeGuards } from 'liquidjs';

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

/**
 * A `liquid` statement inside a `{% liquid %}` line makes LiquidJS read the rest of that line again
 * (`{% liquid liquid liquid … %}`: each level scans to the line's end), so a 70 KB chain of them took
 * 0.7 s to parse while counting as one tag. Each such level counts once per this many characters
 * it rescans.
 */
const RESCANNED_CHARACTERS_PER_COUNT = 1_000;

/** An engine's options, as its parser hands them to the tokenizer. */
type TokenizerOptions = Liquid['options'];

/**
 * Outputs and tags in `source`, and the statements of its `{% liquid %}` tags (a line each), read
 * by LiquidJS's own tokenizer with the engine's options, so the count is what the parse will see:
 * text inside a quoted string, `{% raw %}` and the like is what LiquidJS takes it for. Linear in
 * the source's length: a 100 KB field is counted in 10–40 ms, past the bound or not. The text
 * between tokens is not counted: it is at most one token between two others, so at the bound
 * LiquidJS shifts through 10,001 tokens, which parse in about 10 ms (5,000 `{{a}} `).
 */
export function markupCount(source: string, options: TokenizerOptions): number {
  let count = 0;
  try {
    const tokenizer = new Tokenizer(
      source,
      options.operators,
      undefined,
      undefined,
      options.groupedExpressions,
    );
    while (tokenizer.p < tokenizer.N) {
      const token = tokenizer.readTopLevelToken(options);
      if (TypeGuards.isHTMLToken(token)) continue;
      count++;
      if (TypeGuards.isTagToken(token) && token.name === 'liquid') count += liquidStatements(token, options);
    }
  } catch {
    // An unclosed tag or output: the parse stops at the same place, before any quadratic work,
    // and names the problem. Counted as if every place a token or a line could start were one,
    // rather than trusting that to stay so.
    return conservativeCount(source);
  }
  return count;
}

/** Statements in one `{% liquid %}` tag, as LiquidTag reads them (one per non-blank line). */
function liquidStatements(tag: TopLevelToken, options: TokenizerOptions): number {
  const tokenizer = (tag as unknown as { tokenizer: Tokenizer }).tokenizer;
  let count = 0;
  while (tokenizer.p < tokenizer.N) {
    const line = tokenizer.readLiquidTagToken(options);
    if (!line) break;
    count++;
    if (line.name === 'liquid') count += nestedLiquid(line.tokenizer, options);
  }
  return count;
}

/**
 * A `liquid` statement's own statements: the rest of its line (which holds no further newline), so
 * one statement a level, read name by name here rather than line by line as LiquidJS does.
 */
function nestedLiquid(line: Tokenizer, options: TokenizerOptions): number {
  let count = 0;
  let at = line.p;
  const end = line.N;
  for (;;) {
    const level = new Tokenizer(line.input, options.operators, undefined, [at, end]);
    level.skipBlank();
    if (level.p >= end) return count;
    count += Math.ceil((end - level.p) / RESCANNED_CHARACTERS_PER_COUNT);
    const name = level.readTagName();
    if (name !== 'liquid') return count;
    level.skipBlank();
    at = level.p;
  }
}

/** Every `{{`, `{%` and newline: at least as many as the tags, outputs and lines `source` can hold. */
function conservativeCount(source: string): number {
  return (source.match(/\{\{|\{%|\n/g) ?? []).length;
}

/** Why `source`, to be parsed with `options`, holds more markup than a field may, or null. */
export function markupProblem(source: string, options: TokenizerOptions): string | null {
  const count = markupCount(source, options);
  if (count <= MAX_TEMPLATE_MARKUP) return null;
  return `holds ${count} Liquid tags, outputs and {% liquid %} lines; a field may hold at most ${MAX_TEMPLATE_MARKUP} (split it across fields or steps, or loop over data)`;
}
