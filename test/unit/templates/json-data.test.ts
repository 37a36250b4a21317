import { describe, expect, it } from 'vitest';
import { jsonDataSource } from '../../../src/templates/json-data.ts';
import {
  compileFields,
  compileStep,
  renderFields,
  TemplateCompileError,
  templateErrors,
} from '../../../src/templates/render.ts';

const PUSH = { jsonData: true };

/** A push template's `data` rendered as the pipeline renders it, then read as the adapters read it. */
function renderedData(source: string, data: Record<string, unknown>): unknown {
  const rendered = renderFields(compileFields({ data: source }, PUSH), { data, subscriber: {}, actor: null });
  return JSON.parse(rendered.data!);
}

describe('push data written as a JSON object', () => {
  it('renders each templated value as one JSON string, whatever it holds', () => {
    const source = JSON.stringify({
      id: '{{ data.id }}',
      note: 'for {{ data.who }}',
      n: 3,
      on: true,
      none: null,
    });
    const id = 'A-"17"\\x';
    const who = 'Zoë\nline two </script>';
    expect(renderedData(source, { id, who })).toEqual({ id, note: `for ${who}`, n: 3, on: true, none: null });
  });

  it('renders nested objects and arrays, and keeps keys and literal values as written', () => {
    // Written as text: an object literal's __proto__ would set a prototype, not a key.
    const source =
      '{"{{ data.key }}": "literal", "nested": {"list": ["{{ data.a }}", 2, {"deep": "{% if data.b %}yes{% endif %}"}]},' +
      ' "__proto__": "{{ data.a }}"}';
    const value = renderedData(source, { key: 'k', a: 'x"y', b: true }) as Record<string, unknown>;
    expect(value).toMatchObject({
      '{{ data.key }}': 'literal',
      nested: { list: ['x"y', 2, { deep: 'yes' }] },
    });
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toBe('x"y');
  });

  it('leaves text that is no JSON object, or holds no markup, to render as written', () => {
    expect(jsonDataSource('{"a": 1}')).toBeNull();
    expect(jsonDataSource('{"items": {{ data.items | json }}}')).toBeNull();
    expect(jsonDataSource('["{{ data.a }}"]')).toBeNull();
    expect(renderedData('{"items": {{ data.items | json }}}', { items: [1, 'two'] })).toEqual({
      items: [1, 'two'],
    });
  });

  it('names the field when a value holds broken markup', () => {
    expect(templateErrors({ data: JSON.stringify({ id: '{{ data.id ' }) }).map((e) => e.field)).toEqual([
      'data',
    ]);
  });

  it('refuses an object nested past the bound, naming the field, without throwing on any depth', () => {
    const nested = (depth: number) => `${'{"a":'.repeat(depth)}"{{ data.x }}"${'}'.repeat(depth)}`;
    expect(templateErrors({ data: nested(30) }, PUSH)).toEqual([]);
    for (const depth of [40, 20_000]) {
      expect(templateErrors({ data: nested(depth) }, PUSH)).toEqual([
        { field: 'data', message: expect.stringContaining('deeper than 32 levels') },
      ]);
      const compiled = compileStep({ data: nested(depth) }, PUSH);
      expect(compiled).toBeInstanceOf(TemplateCompileError);
      expect((compiled as Error).message).toMatch(/^data: /);
    }
  });

  it('refuses a value holding tags that would end its capture', () => {
    for (const value of ['{{ x }}{% endcapture %}', '{% raw %}{{ x }}', '{{ x }}{%- comment %}']) {
      expect(templateErrors({ data: JSON.stringify({ a: value }) }, PUSH)).toEqual([
        { field: 'data', message: expect.stringContaining('capture, raw or comment') },
      ]);
    }
  });

  it('is for push steps only: another channel renders its data field as the text it is', () => {
    const source = '{"n": 12345678901234567890, "{{ data.k }}": "{{ data.v }}"}';
    const rendered = renderFields(compileFields({ data: source }), {
      data: { k: 'key', v: 'v' },
      subscriber: {},
      actor: null,
    });
    expect(rendered.data).toBe('{"n": 12345678901234567890, "key": "v"}');
  });
});
