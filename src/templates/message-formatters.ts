import type { Formatters } from 'intl-messageformat';

/**
 * The Intl formatters ICU messages format with, kept per locale and options. intl-messageformat's
 * own cache keys each lookup by JSON-serialising its arguments, once or twice per formatted
 * message — as much CPU as the formatting. Options here are objects of the parsed message (the same
 * object on every call), so they key a WeakMap; plural rules are keyed by their type.
 */
interface LocaleFormatters {
  numbers: WeakMap<object, Intl.NumberFormat>;
  /** Per options object, per time zone ('' for none given). */
  dates: WeakMap<object, Map<string, Intl.DateTimeFormat>>;
  plurals: Map<string, Intl.PluralRules>;
}

/**
 * The recipient's time zone while one message formats (withTimeZone): a parsed message is shared by
 * every recipient of a workflow version, and its formatters are fixed when it is parsed, so the
 * zone its `date` and `time` arguments are shown in is read here. Formatting is synchronous, so
 * nothing else runs between setting and restoring it.
 */
let currentZone: string | undefined;

/** Runs `format` with `{x, date}` / `{x, time}` arguments shown in `timeZone` (an IANA name). */
export function withTimeZone<T>(timeZone: string | undefined, format: () => T): T {
  const before = currentZone;
  currentZone = timeZone;
  try {
    return format();
  } finally {
    currentZone = before;
  }
}

/** Locales kept at once: messages name few, and past this the cache starts over. */
const MAX_LOCALES = 1_000;
const byLocale = new Map<string, LocaleFormatters>();
/** Stands for "no options" among the options objects a cache is keyed by. */
const NO_OPTIONS = {};

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

function keptFor<K extends object | string, T>(
  cache: { get(key: K): T | undefined; set(key: K, value: T): unknown },
  key: K,
  make: () => T,
): T {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}

export const MESSAGE_FORMATTERS: Formatters = {
  getNumberFormat: (locales, options) =>
    keptFor(
      formattersOf(locales).numbers,
      options ?? NO_OPTIONS,
      () => new Intl.NumberFormat(locales, options as Intl.NumberFormatOptions | undefined),
    ),
  getDateTimeFormat: (locales, options) => {
    const byZone = keptFor(
      formattersOf(locales).dates,
      options ?? NO_OPTIONS,
      () => new Map<string, Intl.DateTimeFormat>(),
    );
    const timeZone = currentZone;
    return keptFor(byZone, timeZone ?? '', () =>
      timeZone === undefined
        ? new Intl.DateTimeFormat(locales, options)
        : new Intl.DateTimeFormat(locales, { ...options, timeZone }),
    );
  },
  getPluralRules: (locales, options) => {
    const type = options?.type ?? 'cardinal';
    return keptFor(formattersOf(locales).plurals, type, () => new Intl.PluralRules(locales, { type }));
  },
};
