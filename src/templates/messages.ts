import {
  isDateElement,
  isDateTimeSkeleton,
  isNumberElement,
  isNumberSkeleton,
  isPluralElement,
  isSelectElement,
  isTagElement,
  isTimeElement,
  type MessageFormatElement,
  parse,
} from '@formatjs/icu-messageformat-parser';
import { IntlMessageFormat } from 'intl-messageformat';
import { invalidKey } from '../shared/pattern-messages.ts';
import { TimeSlices } from '../shared/time-slices.ts';
import { instantOf } from './intl-filters.ts';
import { byCanonicalTag, byCanonicalTagToSave, languageOf } from './locale.ts';
import { MESSAGE_FORMATTERS, withTimeZone } from './message-formatters.ts';

/**
 * A workflow's `messages`: ICU MessageFormat strings per locale and key (API.md "Templates"),
 * used in templates as `{{ "comments" | t: count: data.count }}`. A key is looked up along the
 * recipient's locale chain (exact tag, language, default locale); each message is parsed once,
 * with the plural and number rules of the locale it was written for, the first time a render
 * needs it (per workflow version, see TemplateCache).
 */

export type MessageCatalogue = Record<string, Record<string, string>>;

/** Longest message, most keys per locale, most locales. */
export const MESSAGE_MAX_CHARS = 10_000;
export const MESSAGES_MAX_KEYS = 500;
export const MESSAGES_MAX_LOCALES = 50;

/**
 * A message key, as templates name it (`"comments" | t`): a letter, then letters, digits, `_`, `.`
 * or `-`, 100 characters in all. The schema holds `messages` keys to it (its length in the
 * pattern: a record's key is checked by pattern alone), and catalogueProblems a rollback.
 */
export const MESSAGE_KEY_PATTERN = '^[A-Za-z][A-Za-z0-9_.-]{0,99}$';
export const MESSAGE_KEY_MESSAGE =
  "must be 1–100 characters: a letter (A–Z, a–z), then letters, digits, '_', '.' or '-'";
const MESSAGE_KEY = new RegExp(MESSAGE_KEY_PATTERN);

const MESSAGE_OPTIONS = { ignoreTag: true, formatters: MESSAGE_FORMATTERS };

/**
 * Most messages kept parsed per workflow version: every message of every locale a catalogue may
 * hold, and room for regional variants of them (see MessageBook.parse).
 */
const MAX_PARSED_MESSAGES = MESSAGES_MAX_LOCALES * MESSAGES_MAX_KEYS + 5_000;

/** A message a template asked for that no locale of the chain holds. */
export class MissingMessage extends Error {
  override name = 'MissingMessage';
}

/** One recipient's messages: the chain to look keys up along, parsed messages shared per version. */
export class MessageBook {
  constructor(
    private readonly catalogue: ReadonlyMap<string, Record<string, string>>,
    private readonly chain: readonly string[],
    private readonly parsed: Map<string, IntlMessageFormat>,
  ) {}

  /**
   * Parses every message of the chain's locales now, outside any render budget: the first render
   * in a locale then only formats (parsing, and loading a locale's plural rules, took longer than
   * a message's budget on a cold process).
   */
  prepare(): this {
    for (const tag of this.chain) {
      const source = this.catalogue.get(tag);
      if (!source) continue;
      for (const key of Object.keys(source)) {
        try {
          this.parse(tag, key, source[key]!);
        } catch {
          // Checked at PUT; one stored otherwise fails the render that uses it, naming it.
        }
      }
    }
    return this;
  }

  private parse(tag: string, key: string, source: string): IntlMessageFormat {
    const id = `${tag}\u0000${key}`;
    let parsed = this.parsed.get(id);
    if (!parsed) {
      parsed = new IntlMessageFormat(source, tag, undefined, MESSAGE_OPTIONS);
      this.parsed.set(id, parsed);
    }
    const reader = this.chain[0];
    if (reader === undefined || reader === tag || languageOf(reader) !== languageOf(tag)) return parsed;
    // The recipient's own locale, of the message's language: an `es` message read in Mexico
    // shows Mexican digits, and a `pt` one in Portugal Portugal's plurals. The parse is shared;
    // the variants are kept while the cache is small (locales are the tenants' to choose, as
    // many as they like), and otherwise made for the render — the same text either way.
    const variantId = `${reader}\u0000${id}`;
    let variant = this.parsed.get(variantId);
    if (!variant) {
      variant = new IntlMessageFormat(parsed.getAst(), reader, undefined, MESSAGE_OPTIONS);
      if (this.parsed.size < MAX_PARSED_MESSAGES) this.parsed.set(variantId, variant);
    }
    return variant;
  }

  /**
   * Formats message `key` with `values`. An argument the message counts with (`plural`,
   * `selectordinal`, `number`) must be a number or a numeric string: ICU formats anything else as
   * "NaN" ("You have NaN items"), so it throws instead, and the render fails naming it.
   */
  format(key: string, values: Record<string, string | number | boolean>, timeZone?: string): string {
    const message = this.message(key);
    for (const name of countedArguments(message)) {
      const value = values[name];
      if (typeof value === 'number' ? !Number.isFinite(value) : !isNumeric(value))
        throw new Error(`argument "${name}" must be a number (it is counted), not ${JSON.stringify(value)}`);
    }
    // A `date` or `time` argument is an instant as event data carries one: ISO 8601 text (which
    // Intl alone reads as NaN, "Invalid time value") or epoch milliseconds, shown in the
    // recipient's time zone like the `datetime` filter's.
    const dated = datedArguments(message);
    let given = values;
    if (dated.length > 0) {
      given = { ...values };
      for (const name of dated) given[name] = instantArgument(name, values[name]);
    }
    const formatted = withTimeZone(timeZone, () => message.format(given));
    return Array.isArray(formatted) ? formatted.join('') : String(formatted);
  }

  /** The parsed message `key` of the most specific locale that has it; throws MissingMessage. */
  message(key: string): IntlMessageFormat {
    for (const tag of this.chain) {
      const source = this.catalogue.get(tag);
      if (!source || !Object.hasOwn(source, key)) continue;
      return this.parse(tag, key, source[key]!);
    }
    throw new MissingMessage(`message "${key}" is not in the messages of ${this.chain.join(', ')}`);
  }
}

const counted = new WeakMap<IntlMessageFormat, readonly string[]>();

/** The arguments a message counts with (plural, selectordinal, number), read once per message. */
function countedArguments(message: IntlMessageFormat): readonly string[] {
  let names = counted.get(message);
  if (!names) {
    const found = new Set<string>();
    for (const element of elementsOf(message.getAst()))
      if (isPluralElement(element) || isNumberElement(element)) found.add(element.value);
    names = [...found];
    counted.set(message, names);
  }
  return names;
}

const dates = new WeakMap<IntlMessageFormat, readonly string[]>();

/** The arguments a message shows as a date or a time, read once per message. */
function datedArguments(message: IntlMessageFormat): readonly string[] {
  let names = dates.get(message);
  if (!names) {
    const found = new Set<string>();
    for (const element of elementsOf(message.getAst()))
      if (isDateElement(element) || isTimeElement(element)) found.add(element.value);
    names = [...found];
    dates.set(message, names);
  }
  return names;
}

/**
 * A `date`/`time` argument as epoch milliseconds, read as the `datetime` filter reads an instant
 * (ISO 8601 text or epoch milliseconds), numeric text too.
 */
function instantArgument(name: string, value: unknown): number {
  const instant = instantOf(isNumeric(value) ? Number(value) : value);
  if (instant === null || Number.isNaN(new Date(instant).getTime()))
    throw new Error(
      `argument "${name}" must be a date and time (ISO 8601, or epoch milliseconds), not ${JSON.stringify(value) ?? 'undefined'}`,
    );
  return instant;
}

function isNumeric(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value));
}

/** A catalogue keyed by canonical tags (it was checked at PUT; an unreadable tag is skipped). */
export function canonicalCatalogue(
  messages: MessageCatalogue | undefined,
): Map<string, Record<string, string>> {
  if (!messages) return new Map();
  const checked = byCanonicalTag(messages);
  return checked.ok ? checked.map : new Map();
}

export interface MessageProblem {
  path: string;
  message: string;
}

/**
 * What is wrong with a catalogue, each problem naming `messages.<locale>.<key>`; for the check at
 * PUT and at rollback (which the schema's key rules do not see, so they are checked here too).
 *
 * A catalogue within the limits holds 25,000 messages (a megabyte of them): parsed in one go they
 * held the API thread — every tenant's requests — for 0.5–0.8 s (found by the hostile-input
 * sweep). They are parsed one at a time, the event loop given back between them when due
 * (TimeSlices); a locale over the key limit is refused without parsing any of its messages.
 */
export async function catalogueProblems(
  messages: MessageCatalogue | undefined,
  slices = new TimeSlices(),
): Promise<MessageProblem[]> {
  if (!messages) return [];
  const problems: MessageProblem[] = [];
  const tags = byCanonicalTagToSave(messages);
  if (!tags.ok) return [{ path: `messages.${tags.key}`, message: tags.message }];
  if (tags.map.size > MESSAGES_MAX_LOCALES)
    return [{ path: 'messages', message: `at most ${MESSAGES_MAX_LOCALES} locales` }];
  for (const [locale, entries] of Object.entries(messages)) {
    const keys = Object.keys(entries);
    if (keys.length > MESSAGES_MAX_KEYS) {
      problems.push({ path: `messages.${locale}`, message: `at most ${MESSAGES_MAX_KEYS} messages` });
      continue;
    }
    for (const key of keys) {
      await slices.yieldIfDue();
      const path = `messages.${locale}.${key}`;
      const source = entries[key]!;
      if (!MESSAGE_KEY.test(key)) {
        problems.push({ path, message: invalidKey(MESSAGE_KEY_MESSAGE) });
        continue;
      }
      if (source.length > MESSAGE_MAX_CHARS) {
        problems.push({ path, message: `must be at most ${MESSAGE_MAX_CHARS} characters` });
        continue;
      }
      const skeleton = longSkeleton(source);
      if (skeleton !== null) {
        problems.push({
          path,
          message: `has a skeleton of ${skeleton} characters (::…); at most ${SKELETON_MAX_CHARS}`,
        });
        continue;
      }
      try {
        new IntlMessageFormat(source, canonicalTagOr(locale), undefined, { ignoreTag: true });
      } catch (error) {
        problems.push({ path, message: `is not an ICU message: ${firstLine(error)}` });
      }
    }
  }
  return problems;
}

/**
 * The longest a date or number skeleton (`{d, date, ::yMMMd}`) may be. Real ones are a few dozen
 * characters; formatjs parses some date skeletons in quadratic time (a run of `d`s), and 95
 * skeletons of 9,900 characters held the API thread for 5 s at PUT.
 */
const SKELETON_MAX_CHARS = 200;

/**
 * The length of the first skeleton of `source` over SKELETON_MAX_CHARS, or null. Read from the
 * message's syntax tree with skeletons left unparsed (linear), so quotes and nested arguments
 * cannot hide one, before the full parse that parses them.
 */
function longSkeleton(source: string): number | null {
  let elements: MessageFormatElement[];
  try {
    elements = parse(source, { ignoreTag: true, shouldParseSkeletons: false });
  } catch {
    return null; // Not a message: the full parse says why.
  }
  const lengthOf = (element: MessageFormatElement): number => {
    if ((isDateElement(element) || isTimeElement(element)) && isDateTimeSkeleton(element.style))
      return element.style.pattern.length;
    if (isNumberElement(element) && isNumberSkeleton(element.style))
      return element.style.tokens.reduce(
        (sum, token) => sum + token.stem.length + token.options.join('/').length + 1,
        0,
      );
    return 0;
  };
  for (const element of elementsOf(elements)) {
    const length = lengthOf(element);
    if (length > SKELETON_MAX_CHARS) return length;
  }
  return null;
}

/** Every element of a message, depth first: those inside plural, select and tag ones too. */
function* elementsOf(list: readonly MessageFormatElement[]): Generator<MessageFormatElement> {
  for (const element of list) {
    yield element;
    if (isPluralElement(element) || isSelectElement(element))
      for (const option of Object.values(element.options)) yield* elementsOf(option.value);
    if (isTagElement(element)) yield* elementsOf(element.children);
  }
}

function canonicalTagOr(tag: string): string {
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? tag;
  } catch {
    return tag;
  }
}

function firstLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).split('\n')[0] ?? 'invalid message';
}

// A string literal piped into `t`: `"comments" | t`, `'a.b' | t: n: 1`.
const LITERAL_T = /(["'])([^"'\n]{1,200})\1\s*\|\s*t\b(?!\w)/g;

/** The message keys a template names literally (`"key" | t`); keys computed at render are not known. */
export function literalMessageKeys(source: string): string[] {
  return [...source.matchAll(LITERAL_T)].map((match) => match[2]!);
}

/**
 * Whether the last resort of every chain holds `key`: the default locale (or its language). A key
 * only other locales hold would be missing for some recipients, so it is refused at PUT.
 */
export function inDefaultLocale(
  catalogue: ReadonlyMap<string, Record<string, string>>,
  defaultLocale: string,
  key: string,
): boolean {
  for (const tag of [defaultLocale, languageOf(defaultLocale)]) {
    const entries = catalogue.get(tag);
    if (entries && Object.hasOwn(entries, key)) return true;
  }
  return false;
}
