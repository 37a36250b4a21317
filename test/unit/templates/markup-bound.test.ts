import { describe, expect, it } from 'vitest';
import { htmlEngine, textEngine } from '../../../src/templates/engine.ts';
import { MAX_TEMPLATE_MARKUP, markupCount } from '../../../src/templates/markup-bound.ts';
import { compileStep, TemplateCompileError, templateErrors } from '../../../src/templates/render.ts';

/**
 * The markup bound (markup-bound.ts) counts what LiquidJS's parse will see. Found in review: the
 * counter found tags by `{%` and `%}` itself, while LiquidJS skips quoted strings inside outputs,
 * so `{{ "{%" }}` opened a tag for the counter only, which ended at the `%}` closing a real
 * `{% liquid %}` tag: its 49,000 lines went uncounted, the field was accepted and took ~1 s to parse.
 */
describe('the markup bound', () => {
  const count = (source: string) => markupCount(source, textEngine.options);
  const lines = (n: number) => '#\n'.repeat(n);

  it.each([
    ['a double-quoted "{%" in an output', `{{ "{%" }}{% liquid\n${lines(49_000)}%}`, 49_002],
    ["a single-quoted '{%' in an output", `{{ '{%' }}{% liquid\n${lines(49_000)}%}`, 49_002],
    [
      'a quoted "{%" in a trimmed output',
      `{{- "x{%" | append: "{%" -}}{%- liquid\n${lines(49_000)}-%}`,
      49_002,
    ],
  ])('counts the liquid tag behind %s, and refuses the field', (_, source, expected) => {
    expect(count(source)).toBe(expected);
    expect(templateErrors({ body: source })).toEqual([
      {
        field: 'body',
        message: `holds ${expected} Liquid tags, outputs and {% liquid %} lines; a field may hold at most 5000 (split it across fields or steps, or loop over data)`,
      },
    ]);
  });

  it('refuses such a field stored before, at delivery, before parsing it', () => {
    const body = `{{ "{%" }}{% liquid\n${lines(49_000)}%}`;
    const started = performance.now();
    const step = compileStep({ title: body, body, html: body });
    // Parsed, the three took ~5 s in one synchronous block.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(step).toBeInstanceOf(TemplateCompileError);
    expect((step as Error).message).toMatch(/^title: holds 49002 Liquid tags.*at most 5000/);
  });

  it('counts `liquid` statements nested in a {% liquid %} line by the text LiquidJS rescans for each', () => {
    // 1,000 levels, each rescanning ~90 KB to the line's end: 0.4 s to parse, as one tag before.
    const chain = `{% liquid ${'liquid '.repeat(1_000)}echo "${'x'.repeat(90_000)}" %}`;
    expect(count(chain)).toBeGreaterThan(MAX_TEMPLATE_MARKUP);
    expect(templateErrors({ body: chain })).toEqual([
      { field: 'body', message: expect.stringMatching(/^holds \d+ Liquid tags.*at most 5000/) },
    ]);
    // A short one is a statement a level.
    expect(count('{% liquid liquid echo a %}')).toBe(3);
    expect(templateErrors({ body: '{% liquid liquid echo a %}' })).toEqual([]);
  });

  it.each([
    ['a quoted "%}" in an output', '{{ "%}" }}{% if a %}{% endif %}', 3],
    ['a quoted "}}" in an output', '{{ "}}" }}{{ a }}', 2],
    // Inside raw, LiquidJS reads text: the raw tag, its text and endraw.
    ['{% raw %} content', '{% raw %}{{ a }}{% if a %}{% endraw %}', 2],
    // A comment's tokens are read and shifted like any others.
    ['{% comment %} content', '{% comment %}{{ a }}{% endcomment %}', 3],
    ['trimmed {%- liquid -%} lines', '{%- liquid\n echo a\n\n echo b\n-%}', 3],
    // A tag ends at the first %}, quoted or not: the rest is text.
    ['a quoted "%}" in a {% liquid %} line', '{% liquid\necho "%}"\necho b\n%}', 2],
    ['a multi-line inline comment', '{% # a\n # b %}{{ a }}', 2],
  ])('counts %s as LiquidJS reads it', (_, source, expected) => {
    expect(count(source)).toBe(expected);
    expect(count(source)).toBe(markupCount(source, htmlEngine.options));
    expect(textEngine.parse(source)).toBeDefined();
  });

  it('takes more than 5,000 outputs as text in {% raw %}', () => {
    const body = `{% raw %}${'{{ a }}'.repeat(6_000)}{% endraw %}`;
    expect(templateErrors({ body })).toEqual([]);
  });

  it('counts a field LiquidJS cannot tokenize at every {{, {% and newline, and leaves its error to the parse', () => {
    expect(templateErrors({ body: 'Hello {{ name' })).toEqual([
      { field: 'body', message: expect.stringMatching(/^output "\{\{ name" not closed/) },
    ]);
    // An unclosed {% liquid %} tag holding 6,000 lines.
    const unclosed = `{% liquid\n${'echo a\n'.repeat(6_000)}`;
    expect(count(unclosed)).toBe(6_002);
    expect(templateErrors({ body: unclosed })).toEqual([
      { field: 'body', message: expect.stringMatching(/^holds 6002 Liquid tags.*at most 5000/) },
    ]);
  });

  it('counts in linear time', () => {
    const time = (n: number) => {
      const source = `${'{{a}}'.repeat(n)}{% liquid\n${'echo a\n'.repeat(n)}%}`;
      count(source);
      const started = performance.now();
      expect(count(source)).toBe(2 * n + 1);
      return performance.now() - started;
    };
    const small = time(10_000);
    const large = time(40_000);
    // 4 times the markup, 4 times the time (with room for a busy machine); quadratic would be 16.
    expect(large).toBeLessThan(Math.max(small, 5) * 10);
  });
});
