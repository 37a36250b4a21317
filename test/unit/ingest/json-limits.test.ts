import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { findJsonProblem, MAX_JSON_DEPTH } from '../../../src/ingest/json-limits.ts';

const nest = (levels: number): unknown => (levels === 0 ? 1 : [nest(levels - 1)]);

describe('findJsonProblem', () => {
  it.each([
    ['plain values', { a: 'text with \n and emoji 😀', b: [1, 2.5, -3, null, true], c: 9007199254740991 }],
    ['small fractions down to 1e-20', { x: 1.5e-20, y: -2.5e-7, z: 0, w: -0 }],
    ['paired surrogates', { s: '\ud83d\ude00' }],
    ['exactly the deepest nesting allowed', nest(MAX_JSON_DEPTH)],
  ])('accepts %s', (_, value) => {
    expect(findJsonProblem(value)).toBeNull();
  });

  it.each([
    ['NUL in a string', { data: { a: { b: [0, 1, 2, 'x\u0000'] } } }, 'data.a.b[3]', 'NUL'],
    ['NUL in a key', { data: { 'k\u0000': 1 } }, 'data.k\u0000', 'NUL'],
    ['a lone high surrogate', { s: 'a\ud800b' }, 's', 'surrogate'],
    ['a lone low surrogate', { s: ['\udc00'] }, 's[0]', 'surrogate'],
    ['a reversed pair', { s: '\ude00\ud83d' }, 's', 'surrogate'],
    ['Infinity (1e400 parsed)', { n: JSON.parse('1e400') }, 'n', 'send it as a string'],
    ['an integer above 2^53', { n: [JSON.parse('9007199254740993')] }, 'n[0]', 'send it as a string'],
    ['an integer below -2^53', { n: -1e17 }, 'n', 'send it as a string'],
    ['a fraction nearer 0 than 1e-20', { n: [1, 1.5e-300] }, 'n[1]', 'nearer 0 than 1e-20'],
    ['a negative one', { n: -9e-21 }, 'n', 'send it as a string'],
    ['one level too deep', nest(MAX_JSON_DEPTH + 1), `${'[0]'.repeat(MAX_JSON_DEPTH)}`, 'deeper than 32'],
  ])('finds %s at its path', (_, value, path, message) => {
    const problem = findJsonProblem(value);
    expect(problem?.path).toBe(path);
    expect(problem?.message).toContain(message);
  });

  it('prefixes the path it was given and stops at the depth limit on very deep input', () => {
    const deep = JSON.parse(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const problem = findJsonProblem(deep, { prefix: 'events[3]' });
    expect(problem?.path).toBe(`events[3].a${'[0]'.repeat(MAX_JSON_DEPTH - 1)}`);
  });
});

describe('findJsonProblem with a schema: what a number JSON cannot keep is told', () => {
  const schema = Type.Object(
    {
      counts: Type.Array(Type.Integer({ minimum: 0, maximum: 10 })),
      ratio: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
      label: Type.Union([Type.Integer({ minimum: 0, maximum: 1 }), Type.String()]),
      name: Type.String(),
      code: Type.String({ pattern: '^[a-z]+$' }),
      extra: Type.Record(Type.String(), Type.Unknown()),
    },
    { additionalProperties: false },
  );
  const big = JSON.parse('9007199254740993');
  const rounded = 'is an integer beyond ±9007199254740991 that would be rounded';
  it.each([
    ['an integer item of an array', { counts: [1, big] }, 'counts[1]', 'must be an integer from 0 to 10'],
    [
      'a number or null',
      { ratio: -Number.POSITIVE_INFINITY },
      'ratio',
      'must be a number from -9007199254740991 to 9007199254740991',
    ],
    [
      'an integer or any string: the number it was meant as',
      { label: big },
      'label',
      'must be an integer from 0 to 1',
    ],
    ['any string', { name: big }, 'name', `${rounded}; send it as a string`],
    ['a patterned string', { code: big }, 'code', rounded],
    ['free-form values', { extra: { a: { b: [big] } } }, 'extra.a.b[0]', `${rounded}; send it as a string`],
    ['a field the schema does not know', { nope: big }, 'nope', rounded],
  ])('%s', (_, value, path, message) => {
    const problem = findJsonProblem(value, { schema });
    expect(problem?.path).toBe(path);
    expect(problem?.message).toBe(message);
  });
});
