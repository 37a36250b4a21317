import { invalidKey } from '../shared/pattern-messages.ts';

/**
 * Which of a workflow's locales a recipient gets (API.md "Templates: locales, messages…"): the
 * subscriber's `locale` (or the event's `"locale"`) picks the exact tag, then its language, then
 * the workflow's `defaultLocale` (`en` unless set), then the step's default `template`. Tags are
 * compared canonically (`es-mx` is `es-MX`). Pure: callers cache the answer per workflow version
 * and requested tag.
 */

export const DEFAULT_LOCALE = 'en';

/**
 * A key of a workflow's `locales` and `messages` as the schema holds it: subtags of 1–8 letters
 * or digits joined by '-', 64 characters at most (as a subscriber's `locale`). A record's key is
 * checked by its pattern alone, so the length lives in the pattern. Every tag Intl takes has this
 * shape; whether a key that has it is a tag, byCanonicalTag decides, answering in the same words.
 */
export const LOCALE_KEY_PATTERN = '^(?=[A-Za-z0-9-]{1,64}$)[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*$';
export const LOCALE_KEY_MESSAGE = 'must be a language tag such as en or pt-BR, of at most 64 characters';
const LOCALE_KEY = new RegExp(LOCALE_KEY_PATTERN);

/** The canonical spelling of a BCP 47 tag, or null when it is not one. */
export function canonicalTag(tag: string): string | null {
  try {
    const [canonical] = Intl.getCanonicalLocales(tag);
    return canonical ?? null;
  } catch {
    return null;
  }
}

/** The language subtag of a canonical tag (`es` of `es-MX`). */
export function languageOf(tag: string): string {
  const dash = tag.indexOf('-');
  return dash < 0 ? tag : tag.slice(0, dash);
}

/**
 * The tags to look a localized value up under, most specific first: the requested tag, its
 * language, the default locale and its language (each once).
 */
export function localeChain(requested: string | null, defaultLocale: string): string[] {
  const chain: string[] = [];
  const add = (tag: string | null) => {
    if (tag !== null && !chain.includes(tag)) chain.push(tag);
  };
  const wanted = requested === null ? null : canonicalTag(requested);
  if (wanted !== null) {
    add(wanted);
    add(languageOf(wanted));
  }
  const fallback = canonicalTag(defaultLocale) ?? DEFAULT_LOCALE;
  add(fallback);
  add(languageOf(fallback));
  return chain;
}

/**
 * A map keyed by tags as a tenant wrote them, keyed canonically instead. Answers the first tag
 * that is not one, or two spellings of one tag, as a problem naming the key.
 */
export function byCanonicalTag<T>(
  entries: Record<string, T>,
): { ok: true; map: Map<string, T> } | { ok: false; key: string; message: string } {
  const map = new Map<string, T>();
  const spelled = new Map<string, string>();
  for (const [key, value] of Object.entries(entries)) {
    const tag = canonicalTag(key);
    if (tag === null) return { ok: false, key, message: invalidKey(LOCALE_KEY_MESSAGE) };
    const other = spelled.get(tag);
    if (other !== undefined) return { ok: false, key, message: `is the same locale as "${other}"` };
    spelled.set(tag, key);
    map.set(tag, value);
  }
  return { ok: true, map };
}

/**
 * byCanonicalTag for a definition being saved (a PUT, a rollback): each key also within
 * LOCALE_KEY_PATTERN, which the schema holds a PUT to and a rollback does not pass through. Only
 * at saving: a definition stored before the pattern, with a longer key, still renders.
 */
export function byCanonicalTagToSave<T>(entries: Record<string, T>): ReturnType<typeof byCanonicalTag<T>> {
  for (const key of Object.keys(entries))
    if (!LOCALE_KEY.test(key)) return { ok: false, key, message: invalidKey(LOCALE_KEY_MESSAGE) };
  return byCanonicalTag(entries);
}

/**
 * A step's fields for one recipient: the default template, overlaid by each locale of the chain
 * from the least to the most specific, so a field a locale leaves out comes from the next one.
 */
export function localizedFields(
  template: Record<string, string>,
  locales: ReadonlyMap<string, Record<string, string>>,
  chain: readonly string[],
): Record<string, string> {
  let fields = template;
  for (let i = chain.length - 1; i >= 0; i--) {
    const overlay = locales.get(chain[i]!);
    if (overlay) fields = { ...fields, ...overlay };
  }
  return fields;
}
