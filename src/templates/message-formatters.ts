import type { Formatters } from 'intl-messageformat';

/**
 * The Intl formatters ICU messages format with, kept per locale and options. intl-messageformat's
 * own cache keys each lookup by JSON-serialising its arguments, once or twice per formatted
 * message — as much CPU as the formatting. Options here are objects of the parsed message (the same
 * object on every call), so they key a WeakMap; plural rules are keyed by their type.
 */
interface LocaleFormatters {
  number?: Intl.NumberFormat;
  numbers: WeakMap<object, Intl.NumberFormat>;
  dates: WeakMap<object, Intl.DateTimeFormat>;
  date?: Intl.DateTimeFormat;
  plurals: Map<string, Intl.PluralRules>;
}

/** Locales kept at once: messages name few, and past this the cache starts over. */
const MAX_LOCALES = 1_000;
const byLocale = new Map<string, LocaleFormatters>();

function formattersOf(locales: unknown): LocaleFormatters {
  const key = Array.isArray(locales) ? locales.map(String).join('\u0000') : String(locales ?? '');
  let kept = byLocale.get(key);
  if (!kept) {
    if (byLocale.size >= MAX_LOCALES) byLocale.clear();
    kept = { numbers: new WeakMap(), dates: new WeakMap(), plurals: new Map() };
    byLocale.set(key, kept);
  }
  return kept;
}

export const MESSAGE_FORMATTERS: Formatters = {
  getNumberFormat(locales, options) {
    const kept = formattersOf(locales);
    if (options === undefined) {
      kept.number ??= new Intl.NumberFormat(locales);
      return kept.number;
    }
    let format = kept.numbers.get(options);
    if (!format) {
      format = new Intl.NumberFormat(locales, options as Intl.NumberFormatOptions);
      kept.numbers.set(options, format);
    }
    return format;
  },
  getDateTimeFormat(locales, options) {
    const kept = formattersOf(locales);
    if (options === undefined) {
      kept.date ??= new Intl.DateTimeFormat(locales);
      return kept.date;
    }
    let format = kept.dates.get(options);
    if (!format) {
      format = new Intl.DateTimeFormat(locales, options);
      kept.dates.set(options, format);
    }
    return format;
  },
  getPluralRules(locales, options) {
    const kept = formattersOf(locales);
    const type = options?.type ?? 'cardinal';
    let rules = kept.plurals.get(type);
    if (!rules) {
      rules = new Intl.PluralRules(locales, { type });
      kept.plurals.set(type, rules);
    }
    return rules;
  },
};
