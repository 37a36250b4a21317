import { describe, expect, it } from 'vitest';
import { displayNameProblem } from '../../../src/ingest/fields.ts';

describe('displayNameProblem (the API rule for display names, for the CLI)', () => {
  it('takes printable text in any script, counted in code points as the API counts it', () => {
    expect(displayNameProblem('Acme Corp', 200)).toBeNull();
    expect(displayNameProblem('שלום عالم', 200)).toBeNull();
    expect(displayNameProblem('🎉'.repeat(150), 200)).toBeNull();
    expect(displayNameProblem('🎉'.repeat(201), 200)).toBe('must be 1–200 characters');
  });

  it('refuses a name that would show as none: empty, whitespace of any width, invisible characters', () => {
    for (const blank of ['', ' ', '   ', '\u00a0', '\u3000\u2003', '\u200b', ' \u2060 ', '\u3164', '\u2800'])
      expect(displayNameProblem(blank, 200), JSON.stringify(blank)).toBe('must not be blank');
    // Default-ignorable code points and marks with nothing to mark show as nothing too.
    for (const blank of [
      '\u00ad',
      '\u2061\u2064',
      '\ufe0f',
      '\u034f',
      '\u180e',
      '\u17b5',
      '\u{e0020}',
      '\u0301',
      '\u{1d173}',
    ])
      expect(displayNameProblem(blank, 200), JSON.stringify(blank)).toBe('must not be blank');
    expect(displayNameProblem('e\u0301', 200)).toBeNull();
    // Invisible characters inside a name are fine: an emoji sequence joins with U+200D.
    expect(displayNameProblem(' Acme ', 200)).toBeNull();
    expect(displayNameProblem('👩\u200d💻 team', 200)).toBeNull();
  });

  it('refuses control and bidi formatting characters', () => {
    for (const bad of ['\u202e evil', 'a\u200fb', 'a\u061cb', 'a\u2066b', 'tab\there', 'c1\u0085'])
      expect(displayNameProblem(bad, 200)).toBe('must not contain control or bidi formatting characters');
  });
});
