import { Liquid } from 'liquidjs';
import { describe, expect, it } from 'vitest';
import { interpolate, plainInterpolation } from '../../../src/templates/interpolation.ts';
import { MessageBook } from '../../../src/templates/messages.ts';
import { compileFields, renderFields, TemplateTooLarge } from '../../../src/templates/render.ts';

// The engines as src/templates/render.ts configures them.
const limits = { parseLimit: 100_000, renderLimit: 1_000, memoryLimit: 10_000_000 };
const liquid = {
  text: new Liquid({ strictFilters: true, ...limits }),
  html: new Liquid({ strictFilters: true, outputEscape: 'escape', ...limits }),
};

const SCOPES = [
  {
    data: {
      name: 'Ada <admin> & "friends" \'quoted\'',
      n: 42,
      negative: -0,
      big: 1e21,
      float: 0.1 + 0.2,
      yes: true,
      no: false,
      nothing: null,
      nested: { deeper: { value: 'deep' }, list: [1, 2, 3] },
      list: ['a', 'b'],
      emoji: 'héllo 👋',
      empty: '',
    },
    subscriber: { subscriberId: 'user_1', firstName: 'Grace', email: 'g@example.com', locale: null },
    actor: null,
  },
  { data: {}, subscriber: { subscriberId: 'user_2' }, actor: { name: 'Bot' } },
  { data: { nested: 'a string, not an object', list: { size: 9 } }, subscriber: {}, actor: 'someone' },
];

const TEMPLATES = [
  'plain text, no outputs',
  '',
  '{{ data.name }}',
  'Hi {{subscriber.firstName}}, order {{ data.n }} ({{ data.float }}; {{ data.big }}; {{ data.negative }})',
  '{{ data.yes }}/{{ data.no }}/{{ data.nothing }}/{{ data.missing }}/{{ data.missing.deeper }}',
  '{{ data.nested.deeper.value }} {{ data.nested.length }} {{ data.nested.deeper }}',
  '{{ data.list }} {{ data.nested.list }}',
  '{{ data.name.length }} {{ data.emoji }} {{ data.empty }}!',
  '{{ actor.name }} {{ actor }} {{ unknown }} {{ constructor }} {{ data.constructor }} {{ data.__proto__ }}',
  '{{ data.toString }} {{ subscriber.hasOwnProperty }}',
  '{{   data.name   }} and }} and %} stay as they are',
  '{{ data.list.size }} {{ data.list.first }} {{ data.nested.last }}',
  '{{ data.name | upcase }}',
  '{% if data.yes %}yes{% endif %} {{ data.n }}',
  '{{- data.name -}} trimmed',
  '{{ data["name"] }}',
  '{{ data.order-id }}',
];

describe('plain interpolation', () => {
  it('renders exactly what LiquidJS renders, as text and as HTML', () => {
    for (const template of TEMPLATES) {
      for (const scope of SCOPES) {
        for (const field of ['title', 'html'] as const) {
          const engine = field === 'html' ? liquid.html : liquid.text;
          const expected = engine.parseAndRenderSync(template, scope);
          const got = renderFields(compileFields({ [field]: template }), scope);
          expect({ template, field, out: got[field] }).toEqual({ template, field, out: expected });
        }
      }
    }
  });

  it('takes plain text and simple outputs, and leaves everything else to LiquidJS', () => {
    expect(plainInterpolation('Hi {{ subscriber.firstName }}, {{data.n}}!')).toEqual([
      'Hi ',
      ['subscriber', 'firstName'],
      ', ',
      ['data', 'n'],
      '!',
    ]);
    expect(plainInterpolation('no outputs at all')).toEqual(['no outputs at all']);
    for (const other of [
      '{{ data.name | upcase }}',
      '{% if data.x %}x{% endif %}',
      '{{- data.x }}',
      '{{ data["x"] }}',
      '{{ data.list.size }}',
      '{{ data.list.first }}',
      'a {{ data.x }} {% raw %}{{ y }}{% endraw %}',
    ]) {
      expect(plainInterpolation(other), other).toBeNull();
    }
  });

  it('hands arrays, objects and walks through non-objects back to LiquidJS', () => {
    const parts = plainInterpolation('{{ data.v }}')!;
    expect(interpolate(parts, { data: { v: [1] } }, false, 100)).toBeUndefined();
    expect(interpolate(parts, { data: { v: { a: 1 } } }, false, 100)).toBeUndefined();
    expect(
      interpolate(plainInterpolation('{{ data.s.length }}')!, { data: { s: 'abc' } }, false, 100),
    ).toBeUndefined();
    expect(interpolate(parts, { data: { v: 'fine' } }, false, 100)).toBe('fine');
  });

  it('leaves escaping past the memory limit to LiquidJS, which refuses it', () => {
    const parts = plainInterpolation('{{ data.v }}{{ data.v }}')!;
    expect(interpolate(parts, { data: { v: '12345' } }, true, 10)).toBe('1234512345');
    expect(interpolate(parts, { data: { v: '123456' } }, true, 10)).toBeUndefined();
    expect(interpolate(parts, { data: { v: '123456' } }, false, 10)).toBe('123456123456');
    // Through renderFields, as LiquidJS: a huge value is refused in HTML (escaping), and in text by
    // the output size rule (a field holds at most MAX_FIELD_CHARS, which is the memory limit).
    const huge = { data: { v: 'x'.repeat(limits.memoryLimit + 1) }, subscriber: {}, actor: null };
    expect(() => renderFields(compileFields({ html: '{{ data.v }}' }), huge)).toThrow(/memory alloc limit/);
    expect(() => renderFields(compileFields({ title: '{{ data.v }}' }), huge)).toThrow(TemplateTooLarge);
  });
});

describe('plain interpolation of messages ({{ "key" | t: name: path }})', () => {
  const book = new MessageBook(
    new Map([
      [
        'es',
        {
          items: '{count, plural, one {# artículo} other {# artículos}}',
          hi: 'Hola {name} <b>',
          bare: 'sin',
        },
      ],
    ]),
    ['es'],
    new Map(),
  );
  const locale = { locale: 'es', timeZone: 'UTC', now: 0, messages: book };
  const scope = {
    data: { n: 1, many: 12, name: 'Ana & "Bo"', list: [1], missing: undefined },
    subscriber: {},
    actor: null,
  };
  // A `{% comment %}` makes the same template go through LiquidJS and its `t` filter.
  const viaLiquid = (source: string) => `${source}{% comment %}{% endcomment %}`;

  it('takes the fast path for quoted keys and named path arguments', () => {
    expect(plainInterpolation('{{ "items" | t: count: data.n }}')).toEqual([
      { key: 'items', args: [['count', ['data', 'n']]] },
    ]);
    expect(plainInterpolation("{{ 'bare' | t }}")).toEqual([{ key: 'bare', args: [] }]);
    for (const liquidOnly of [
      '{{ "items" | t: count: 3 }}',
      '{{ "items" | t: count: data.list.size }}',
      '{{ "items" | t | upcase }}',
      '{{ "a\\"b" | t }}',
      '{{ "items" | t: count: data.n, count: data.many }}',
      '{{ data.key | t }}',
    ])
      expect(plainInterpolation(liquidOnly), liquidOnly).toBeNull();
  });

  it('renders exactly what the t filter renders, as text and as HTML', () => {
    for (const source of [
      'Pedido: {{ "items" | t: count: data.n }} / {{ "items" | t: count: data.many }}',
      "{{ 'hi' | t: name: data.name }} {{ data.name }}",
      '{{ "bare" | t }}',
    ])
      for (const field of ['title', 'html'] as const) {
        const fast = renderFields(compileFields({ [field]: source }), scope, undefined, 1_000, locale);
        const slow = renderFields(
          compileFields({ [field]: viaLiquid(source) }),
          scope,
          undefined,
          1_000,
          locale,
        );
        expect(compileFields({ [field]: source })[0]![3], source).not.toBeNull();
        expect(fast, `${field}: ${source}`).toEqual(slow);
      }
  });

  it('leaves what it cannot format to LiquidJS', () => {
    for (const source of [
      '{{ "items" | t: count: data.missing }}',
      '{{ "nope" | t }}',
      '{{ "items" | t: count: data.list }}',
    ]) {
      const parts = plainInterpolation(source)!;
      expect(interpolate(parts, scope, false, 1_000_000, book), source).toBeUndefined();
    }
    expect(() =>
      renderFields(compileFields({ title: '{{ "nope" | t }}' }), scope, undefined, 1_000, locale),
    ).toThrow(/message "nope"/);
    // Without messages (a condition, a preview without a locale) the fast path steps aside too.
    expect(
      interpolate(plainInterpolation('{{ "bare" | t }}')!, scope, false, 1_000_000, null),
    ).toBeUndefined();
  });
});
