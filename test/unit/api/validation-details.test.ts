import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { compileValidator } from '../../../src/api/validation.ts';
import { InlineSubscriber } from '../../../src/ingest/schema.ts';

describe('validation details', () => {
  const check = compileValidator(InlineSubscriber);

  it('names a bad nullable field once, with the reason of its non-null form', () => {
    const result = check({ subscriberId: 'ada', email: 'not an address', phone: 5 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.details).toEqual([
      { path: 'email', message: 'must be an email address such as ada@example.com' },
      { path: 'phone', message: 'must be string' },
    ]);
  });

  it('names the innermost field of a nullable object, once', () => {
    const either = compileValidator(
      Type.Object({ v: Type.Union([Type.Object({ a: Type.String() }), Type.Null()]) }),
    );
    const result = either({ v: { a: 1 } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.details.map((d) => d.path)).toEqual(['v.a']);
    const scalar = either({ v: 5 });
    expect(scalar.ok ? [] : scalar.details).toEqual([{ path: 'v', message: 'must be object' }]);
  });

  it('keeps the union line where the alternatives are several: they are not all required', () => {
    const badge = compileValidator(Type.Object({ b: Type.Union([Type.Number(), Type.Literal('unread')]) }));
    const result = badge({ b: 'x' });
    expect(result.ok ? [] : result.details.map((d) => d.message)).toContain('must match a schema in anyOf');
  });
});
