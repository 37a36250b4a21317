import { describe, expect, it } from 'vitest';
import { displayNameProblem } from '../../../src/ingest/fields.ts';

describe('displayNameProblem (the API rule for tenant names and key labels, for the CLI)', () => {
  it('takes printable text in any script, counted in code points as the API counts it', () => {
    expect(displayNameProblem('Acme Corp', 200)).toBeNull();
    expect(displayNameProblem('שלום عالم', 200)).toBeNull();
    expect(displayNameProblem('🎉'.repeat(150), 200)).toBeNull();
    expect(displayNameProblem('🎉'.repeat(201), 200)).toBe('must be 1–200 characters');
    expect(displayNameProblem('', 200)).toBe('must be 1–200 characters');
  });

  it('refuses control and bidi formatting characters', () => {
    for (const bad of ['\u202e evil', 'a\u200fb', 'a\u061cb', 'a\u2066b', 'tab\there', 'c1\u0085'])
      expect(displayNameProblem(bad, 200)).toBe('must not contain control or bidi formatting characters');
  });
});
