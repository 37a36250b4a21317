import { describe, expect, it } from 'vitest';
import type { RenderLocale } from '../../../src/templates/intl-filters.ts';
import { localeChain, localizedFields } from '../../../src/templates/locale.ts';
import { MessageBook } from '../../../src/templates/messages.ts';
import { compileFields, renderFields } from '../../../src/templates/render.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
// These check formatting, not the render budget (test/security covers it): a generous one, so a
// busy machine's first Intl calls do not time out.
const scope = (data: Record<string, unknown>) => ({ data, subscriber: {}, actor: null });
const render = (source: string, data: Record<string, unknown>, locale: Partial<RenderLocale> = {}) =>
  renderFields(compileFields({ body: source }), scope(data), undefined, 5_000, {
    locale: 'en',
    timeZone: 'UTC',
    now: NOW,
    messages: null,
    ...locale,
  }).body;

describe('locale resolution', () => {
  it('looks up the exact tag, its language, then the default locale and its language', () => {
    expect(localeChain('es-mx', 'en')).toEqual(['es-MX', 'es', 'en']);
    expect(localeChain('es', 'pt-BR')).toEqual(['es', 'pt-BR', 'pt']);
    expect(localeChain(null, 'en')).toEqual(['en']);
    expect(localeChain('not a tag', 'en')).toEqual(['en']);
  });

  it('overlays the fields of each locale of the chain, the most specific last', () => {
    const locales = new Map<string, Record<string, string>>([
      ['es', { title: 'es title', body: 'es body' }],
      ['es-MX', { title: 'mx title' }],
    ]);
    expect(localizedFields({ title: 't', body: 'b', extra: 'x' }, locales, ['es-MX', 'es', 'en'])).toEqual({
      title: 'mx title',
      body: 'es body',
      extra: 'x',
    });
  });
});

describe('locale-aware filters', () => {
  it('tells a time relative to now in the largest unit it has one of', () => {
    expect(render('{{ data.at | relative }}', { at: '2026-06-04T12:00:00Z' })).toBe('in 3 days');
    expect(render('{{ data.at | relative }}', { at: '2026-06-01T10:00:00Z' })).toBe('2 hours ago');
    expect(render('{{ data.at | relative }}', { at: '2026-06-02T12:00:00Z' }, { locale: 'es' })).toBe(
      'mañana',
    );
  });

  it('formats in the given zone, and refuses an unknown style', () => {
    expect(render('{{ data.at | datetime: "short" }}', { at: NOW }, { timeZone: 'Asia/Tokyo' })).toBe(
      '6/1/26, 9:00 PM',
    );
    expect(() => render('{{ data.at | datetime: "tiny" }}', { at: NOW })).toThrow(
      /datetime: the style must be/,
    );
  });

  it('formats ICU messages with named arguments, along the chain', () => {
    const book = new MessageBook(
      new Map<string, Record<string, string>>([
        ['en', { n: '{count, plural, one {# item} other {# items}}', hi: 'Hi {name}' }],
        [
          'ru',
          { n: '{count, plural, one {# предмет} few {# предмета} many {# предметов} other {# предмета}}' },
        ],
      ]),
      ['ru', 'en'],
      new Map(),
    ).prepare();
    const t = (source: string, data: Record<string, unknown>) => render(source, data, { messages: book });
    expect(t('{{ "n" | t: count: data.c }}', { c: 3 })).toBe('3 предмета');
    expect(t('{{ "n" | t: count: data.c }}', { c: 5 })).toBe('5 предметов');
    expect(t('{{ "hi" | t: name: data.name }}', { name: '<b>' })).toBe('Hi <b>');
    expect(() => t('{{ "nope" | t }}', {})).toThrow(/message "nope" is not in the messages of ru, en/);
    expect(() => t('{{ "hi" | t: data.name }}', { name: 'x' })).toThrow(/arguments are named/);
    // A counted argument takes a number or a numeric string; anything else would print "NaN".
    expect(t('{{ "n" | t: count: data.c }}', { c: '5' })).toBe('5 предметов');
    expect(() => t('{{ "n" | t: count: data.c }}', { c: 'z' })).toThrow(/argument "count" must be a number/);
    expect(() => t('{{ "n" | t }}', {})).toThrow(/argument "count" must be a number/);
  });

  it("formats a message of the recipient's language in the recipient's own locale", () => {
    const catalogue = new Map<string, Record<string, string>>([
      ['es', { total: 'Total: {amount, number}' }],
      ['pt', { n: '{count, plural, one {# mensagem} other {# mensagens}}' }],
      ['en', { total: 'Total: {amount, number}' }],
    ]);
    const parsed = new Map();
    const t = (chain: string[], source: string, data: Record<string, unknown>) =>
      render(source, data, { messages: new MessageBook(catalogue, chain, parsed).prepare() });
    // An `es` message read by a reader in Mexico: Mexican digits, not Spain's.
    expect(t(['es-MX', 'es', 'en'], '{{ "total" | t: amount: data.a }}', { a: 1234.5 })).toBe(
      'Total: 1,234.5',
    );
    expect(t(['es', 'en'], '{{ "total" | t: amount: data.a }}', { a: 1234.5 })).toBe('Total: 1234,5');
    // Plural rules too: in Portugal 0 is "other", in Brazil (CLDR's `pt`) it is "one".
    expect(t(['pt-PT', 'pt', 'en'], '{{ "n" | t: count: data.c }}', { c: 0 })).toBe('0 mensagens');
    expect(t(['pt', 'en'], '{{ "n" | t: count: data.c }}', { c: 0 })).toBe('0 mensagem');
    // A message of another language (the default locale's) keeps that language's rules and digits.
    expect(t(['de-CH', 'de', 'en'], '{{ "total" | t: amount: data.a }}', { a: 1234.5 })).toBe(
      'Total: 1,234.5',
    );
  });
});
