import { describe, expect, it } from 'vitest';
import {
  digestKeyEngine,
  FILE_TAGS,
  htmlEngine,
  MESSAGE_BUDGET_MS,
  textEngine,
} from '../../../src/templates/engine.ts';
import {
  type CompiledFields,
  compileDigestKey,
  compileFields,
  compileStep,
  type RenderClock,
  renderFields,
  TemplateCompileError,
  TemplateOutputError,
  TemplateTimeout,
  TemplateTooLarge,
  templateErrors,
  withOneMoreBudget,
} from '../../../src/templates/render.ts';

describe('the sandboxed engines', () => {
  it('refuse every tag that loads a template, naming it', () => {
    for (const tag of FILE_TAGS) {
      for (const source of [
        `{% ${tag} 'package.json' %}`,
        `{% ${tag} data.f %}`,
        `{% liquid ${tag} "x" %}`,
      ]) {
        expect(templateErrors({ body: source })).toEqual([
          { field: 'body', message: expect.stringMatching(new RegExp(`${tag}.*partials are not supported`)) },
        ]);
        const step = compileStep({ title: 'ok', body: source });
        expect(step).toBeInstanceOf(TemplateCompileError);
        expect((step as Error).message).toMatch(/^body: /);
      }
    }
  });

  it('name a template nested too deeply to parse in words, with its position', () => {
    const parens = `{{ ${'('.repeat(5000)}1${')'.repeat(5000)} }}`;
    expect(templateErrors({ body: parens })).toEqual([
      {
        field: 'body',
        message: expect.stringMatching(
          /^nests too deeply to parse \(tags or parentheses\), line:1, col:\d+$/,
        ),
      },
    ]);
    // Tags nested as deeply are more tags than a field may hold: refused before they are parsed.
    const ifs = `${'{% if true %}'.repeat(3000)}x${'{% endif %}'.repeat(3000)}`;
    expect(templateErrors({ body: ifs })).toEqual([
      { field: 'body', message: expect.stringMatching(/^holds 6000 Liquid tags.*at most 5000/) },
    ]);
  });

  it('have a file system with no files in it', () => {
    for (const engine of [textEngine, htmlEngine, digestKeyEngine]) {
      for (const file of ['package.json', './package.json', '/etc/passwd', '../package.json'])
        expect(() => engine.renderFileSync(file, {})).toThrow();
    }
  });
});

describe("the digest key's engine", () => {
  const key = (source: string, data: Record<string, unknown>) =>
    renderFields(compileDigestKey(source) as CompiledFields, { data, subscriber: {}, actor: null }).key;

  it('prints an array or object as canonical JSON, through an output, echo and raw', () => {
    for (const source of ['{{ data.t }}', '{% echo data.t %}', '{{ data.t | raw }}']) {
      expect(key(source, { t: { b: [2, { y: 1, x: 'é"' }], a: 1 } })).toBe(
        '{"a":1,"b":[2,{"x":"é\\"","y":1}]}',
      );
      expect(key(source, { t: [1, 2] })).toBe('[1,2]');
      expect(key(source, { t: [12] })).toBe('[12]');
      expect(key(source, { t: {} })).toBe('{}');
    }
    expect(key('{{ data.t }}', { t: JSON.parse('{"__proto__": {"a": 1}}') })).toBe('{"__proto__":{"a":1}}');
  });

  it('prints every other value as any template does', () => {
    expect(key('{{ data.t }}-{{ data.n }}-{{ data.b }}-{{ data.none }}', { t: 'x', n: 1.5, b: true })).toBe(
      'x-1.5-true-',
    );
    expect(key('{{ data.t.id }}', { t: { id: 7 } })).toBe('7');
    expect(key('{{ data.t | join: "+" }}', { t: [1, 2] })).toBe('1+2');
  });

  it('charges the JSON it prints to the memory limit', () => {
    const big = { text: 'x'.repeat(100_000) };
    const loop = compileDigestKey('{% for i in (1..1000) %}{{ data.big }}{% endfor %}') as CompiledFields;
    // A budget no render here reaches: the memory limit stops it, after about 160 of the 1,000.
    const scope = { data: { big }, subscriber: {}, actor: null };
    expect(() => renderFields(loop, scope, undefined, 60_000)).toThrow(/memory alloc limit exceeded/);
  });
});

describe('the render budget', () => {
  it('gives a render that ran past its budget one more whole budget, and fails one that runs past both', () => {
    const budgets: number[] = [];
    // A pause (GC, a busy machine) costs the first attempt its budget; the second one renders.
    const paused = withOneMoreBudget(7, (budget) => {
      budgets.push(budget);
      if (budgets.length === 1) throw new TemplateTimeout(budget);
      return 'rendered';
    });
    expect(paused).toBe('rendered');
    expect(budgets).toEqual([7, MESSAGE_BUDGET_MS]);
    let attempts = 0;
    const slow = () =>
      withOneMoreBudget(MESSAGE_BUDGET_MS, (budget) => {
        attempts++;
        throw new TemplateTimeout(budget);
      });
    expect(slow).toThrow(TemplateTimeout);
    expect(attempts).toBe(2);
    // Other errors are not retried.
    attempts = 0;
    expect(() =>
      withOneMoreBudget(MESSAGE_BUDGET_MS, () => {
        attempts++;
        throw new Error('template error');
      }),
    ).toThrow('template error');
    expect(attempts).toBe(1);
  });

  const items = Array.from({ length: 3_000 }, (_, i) => i);
  const scope = { data: { items, name: 'Ada' }, subscriber: {}, actor: null };

  it('refuses output no store can keep (NUL, a lone surrogate), on the plain path and through Liquid', () => {
    const at = (x: string) => ({ data: { x }, subscriber: {}, actor: null });
    for (const body of ['{{ data.x }}', '{{ data.x | append: "!" }}']) {
      const compiled = compileFields({ body });
      for (const x of ['a\u0000b', 'a\ud800b', '\udc00'])
        expect(() => renderFields(compiled, at(x))).toThrow(TemplateOutputError);
      expect(renderFields(compiled, at('a😀b')).body).toMatch(/^a😀b/);
    }
  });

  it('stops a render that loops past the budget with TemplateTimeout, close to the budget', () => {
    const compiled = compileFields({
      body: '{% for a in data.items %}{% for b in data.items %}{{ b }}{% endfor %}{% endfor %}',
    });
    const clock: RenderClock = { liquidMs: 0 };
    const started = performance.now();
    expect(() => renderFields(compiled, scope, clock)).toThrow(TemplateTimeout);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(MESSAGE_BUDGET_MS - 1);
    expect(took).toBeLessThan(MESSAGE_BUDGET_MS * 4);
    expect(clock.liquidMs).toBeGreaterThanOrEqual(MESSAGE_BUDGET_MS - 1);
  });

  it('is one budget for all the fields of a message, not one per field', () => {
    const slow = '{% for a in data.items %}{% for b in (1..400) %}{% endfor %}{% endfor %}';
    const compiled = compileFields({ title: slow, body: slow, text: slow, html: slow });
    const started = performance.now();
    let error: unknown;
    try {
      renderFields(compiled, scope, undefined, 100);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TemplateTimeout);
    // Four fields with a budget each would take at least 400 ms.
    expect(performance.now() - started).toBeLessThan(300);
  });

  it('stops filters that evaluate an expression per item, nested inside each other, at the budget', () => {
    // Quadratic work inside one output: LiquidJS checks its limit between nodes, not in filters.
    // Sized so that only the clock can stop it: 2,500 × 10 items charge 880,000 of the 1,000,000
    // memory limit (2,000 × 2,000 reached the limit first on a fast machine), while the inner
    // expression's 40 comparisons make it about 2 s of work unchecked.
    const inner = Array.from({ length: 40 }, (_, i) => `y == ${-i - 1}`).join(' or ');
    const compiled = compileFields({
      body: `{% assign r = (1..2500) %}{% assign s = (1..10) %}{{ r | find_exp: "x", "s | find_exp: 'y', '${inner}'" }}`,
    });
    const started = performance.now();
    expect(() => renderFields(compiled, scope)).toThrow(TemplateTimeout);
    // Stopped at the budget, not after the work: the bound leaves room for a machine busy with
    // other test files and still tells the two apart.
    expect(performance.now() - started).toBeLessThan(MESSAGE_BUDGET_MS * 20);
  });

  it('charges expression filters per item, so one call over a long array is refused', () => {
    const compiled = compileFields({ body: '{{ (1..100000) | find_exp: "x", "x == 0" }}' });
    expect(() => renderFields(compiled, scope)).toThrow(/memory alloc limit exceeded/);
  });

  it('charges filters that read each item through the scope, so one call over an event-sized array is refused', () => {
    // 500,000 numbers: 1 MB of event data. Charged an item a unit, `where` over them held the
    // worker thread 1.6–2 s a render (3.3 s a message, given one more budget), `find` and `has` 2 s,
    // `sample` 0.5 s, `map` 0.4 s; a sort of 150,000 numbers 270 ms.
    const data = { arr: Array.from({ length: 500_000 }, (_, i) => i % 2) };
    for (const filter of [
      'where: "x"',
      'reject: "x"',
      'group_by: "x"',
      'find: "x", 1',
      'find_index: "x", 1',
      'has: "x", 1',
      'map: "x"',
      'sample: 10',
      'sort',
    ]) {
      const compiled = compileFields({ body: `{{ data.arr | ${filter} | size }}` });
      const started = performance.now();
      expect(() => renderFields(compiled, { ...scope, data }), filter).toThrow(/memory alloc limit exceeded/);
      expect(performance.now() - started, filter).toBeLessThan(MESSAGE_BUDGET_MS * 4);
    }
    const sorted = compileFields({ body: '{{ data.arr | slice: 0, 150000 | sort | size }}' });
    expect(() => renderFields(sorted, { ...scope, data })).toThrow(/memory alloc limit exceeded/);
    // Lists of the size a message shows still filter, map and sort.
    const products = Array.from({ length: 2000 }, (_, i) => ({ id: i, kind: i % 3 === 0 ? 'a' : 'b' }));
    // One render each: the point is what is charged, not how fast a loaded machine runs four.
    const legit: [string, string][] = [
      ['{{ data.products | where: "kind", "a" | map: "id" | sort | last }}', '1998'],
      ['{{ data.products | group_by: "kind" | size }}', '2'],
      ['{{ data.products | find: "id", 7 | map: "kind" }}', 'b'],
      ['{{ data.products | sample: 3 | size }}', '3'],
    ];
    for (const [body, expected] of legit)
      expect(renderFields(compileFields({ body }), { ...scope, data: { products } }).body, body).toBe(
        expected,
      );
  });

  it('charges sorting and comparing filters for the text they compare: long strings are refused, short lists sort', () => {
    // 2,048 references to two nearly equal 100,000-character strings: each comparison walks both
    // whole (and sort_natural lower-cases them): seconds of one filter call, charged 2,048 items.
    const attack =
      '{% assign arr = "" | split: "," | push: data.t | push: data.s %}{% for i in (1..10) %}{% assign arr = arr | concat: arr %}{% endfor %}';
    const long = { s: 'A'.repeat(100_000), t: `${'A'.repeat(99_999)}B` };
    for (const filter of ['sort_natural', 'sort', 'uniq']) {
      const compiled = compileFields({ body: `${attack}{{ arr | ${filter} | size }}` });
      const started = performance.now();
      expect(() => renderFields(compiled, { ...scope, data: long }), filter).toThrow(
        /memory alloc limit exceeded/,
      );
      expect(performance.now() - started).toBeLessThan(MESSAGE_BUDGET_MS * 20);
    }
    const names = Array.from(
      { length: 1000 },
      (_, i) => `Product ${String(1000 - i).padStart(4, '0')} ${'x'.repeat(80)}`,
    );
    const sorted = compileFields({ body: '{{ data.names | sort_natural | first | slice: 0, 12 }}' });
    expect(renderFields(sorted, { ...scope, data: { names } }).body).toBe('Product 0001');
  });

  it('refuses output larger than a field or a message may hold, from LiquidJS and from plain interpolation', () => {
    const big = 'x'.repeat(600_000);
    const looped = compileFields({ body: '{% for i in (1..500) %}{{ data.big }}{% endfor %}' });
    expect(() => renderFields(looped, { ...scope, data: { big } })).toThrow(TemplateTooLarge);
    const plain = compileFields({ body: '{{ data.big }}{{ data.big }}' });
    expect(() => renderFields(plain, { ...scope, data: { big } })).toThrow(TemplateTooLarge);
    // Three fields of 700,000 characters: each may be that large, not all of them together.
    const fields = compileFields({ title: '{{ data.big }}', body: '{{ data.big }}', text: '{{ data.big }}' });
    expect(() => renderFields(fields, { ...scope, data: { big: 'x'.repeat(700_000) } })).toThrow(
      /the message rendered to more than/,
    );
    expect(
      renderFields(compileFields({ body: '{{ data.big }}' }), { ...scope, data: { big } }).body,
    ).toHaveLength(600_000);
  });

  it('reads no clock for plain interpolation', () => {
    const clock: RenderClock = { liquidMs: 0 };
    expect(renderFields(compileFields({ title: 'Hi {{ data.name }}' }), scope, clock)).toEqual({
      title: 'Hi Ada',
    });
    expect(clock.liquidMs).toBe(0);
    renderFields(compileFields({ title: 'Hi {{ data.name | upcase }}' }), scope, clock);
    expect(clock.liquidMs).toBeGreaterThan(0);
  });
});
