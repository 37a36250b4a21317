import { describe, expect, it } from 'vitest';
import { findJsonProblem, MAX_JSON_DEPTH } from '../../../src/ingest/json-limits.ts';

const nest = (levels: number): unknown => (levels === 0 ? 1 : [nest(levels - 1)]);

describe('findJsonProblem', () => {
  it.each([
    ['plain values', { a: 'text with \n and emoji 😀', b: [1, 2.5, -3, null, true], c: 9007199254740991 }],
    ['a float far beyond 2^53 that is not an integer', { x: 1.5e-300 }],
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
    ['one level too deep', nest(MAX_JSON_DEPTH + 1), `${'[0]'.repeat(MAX_JSON_DEPTH)}`, 'deeper than 32'],
  ])('finds %s at its path', (_, value, path, message) => {
    const problem = findJsonProblem(value);
    expect(problem?.path).toBe(path);
    expect(problem?.message).toContain(message);
  });

  it('prefixes the path it was given and stops at the depth limit on very deep input', () => {
    const deep = JSON.parse(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const problem = findJsonProblem(deep, 'events[3]');
    expect(problem?.path).toBe(`events[3].a${'[0]'.repeat(MAX_JSON_DEPTH - 1)}`);
  });
});
