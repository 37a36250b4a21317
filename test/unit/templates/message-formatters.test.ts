import { IntlMessageFormat } from 'intl-messageformat';
import { describe, expect, it } from 'vitest';
import { MESSAGE_FORMATTERS } from '../../../src/templates/message-formatters.ts';

describe('MESSAGE_FORMATTERS', () => {
  it("formats every kind of ICU argument exactly as intl-messageformat's own formatters do", () => {
    const at = Date.UTC(2026, 11, 2, 15, 4, 5);
    const cases: [string, string, Record<string, string | number | Date>][] = [
      ['{count, plural, one {# item} other {# items}}', 'en', { count: 1 }],
      ['{count, plural, one {# Artikel} other {# Artikel}}', 'de', { count: 12345.5 }],
      ['{place, selectordinal, one {#st} two {#nd} few {#rd} other {#th}}', 'en', { place: 22 }],
      ['{n, number} / {n, number, percent} / {n, number, ::currency/EUR}', 'fr', { n: 0.257 }],
      ['{n, number, ::compact-short}', 'ja', { n: 1234567 }],
      ['{d, date, short} {d, date, long} {d, time, short} {d, date, ::yyyyMMMd}', 'es', { d: at }],
      ['{who} {gender, select, female {ella} other {él}}', 'es', { who: 'Ana', gender: 'female' }],
    ];
    for (const [source, locale, values] of cases) {
      const expected = new IntlMessageFormat(source, locale).format(values);
      const kept = new IntlMessageFormat(source, locale, undefined, { formatters: MESSAGE_FORMATTERS });
      // Twice: the second call reads the kept formatters.
      expect(kept.format(values), source).toEqual(expected);
      expect(kept.format(values), source).toEqual(expected);
    }
  });
});
