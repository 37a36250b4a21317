import type { Liquid } from 'liquidjs';
import type { MessageBook } from './messages.ts';

/**
 * Filters formatted in the recipient's locale and time zone (API.md "Templates"), all on `Intl`:
 * `datetime: "short"|"medium"|"long"|"full"`, `number`, `currency: "EUR"`, `relative` ("in 3
 * days"), and `t: name: value…` for the workflow's ICU messages. What a render is for reaches the
 * filters through a LiquidJS register (never through the template's scope, so a template cannot
 * read or forge it). A value a filter cannot format is printed as it is; a wrong argument (an
 * unknown style or currency) is a render error naming the filter, which fails that one message.
 */

/** The register holding the RenderLocale of a render. */
export const LOCALE_REGISTER = 'tidings.locale';

/** What the locale-aware filters format for. */
export interface RenderLocale {
  /** The tag numbers, dates and relative times are formatted in. */
  locale: string;
  /** IANA zone dates are shown in. */
  timeZone: string;
  /** The instant `relative` counts from (epoch ms). */
  now: number;
  /** The recipient's messages, along its locale chain. */
  messages: MessageBook | null;
}

/** Used when a render has no RenderLocale (a step's `if`): English, UTC. */
const PLAIN: RenderLocale = { locale: 'en', timeZone: 'UTC', now: 0, messages: null };

interface FilterThis {
  context: { getRegister(key: string): unknown };
}

function localeOf(self: FilterThis): RenderLocale {
  return (self.context.getRegister(LOCALE_REGISTER) as RenderLocale | undefined) ?? PLAIN;
}

/** Formatters are costly to build (tens of µs) and cheap to reuse: a bounded cache of them. */
const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>();

function cached<F extends Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>(
  key: string,
  make: () => F,
): F {
  let formatter = formatters.get(key) as F | undefined;
  if (!formatter) {
    formatter = make();
    if (formatters.size >= 2_000) formatters.clear();
    formatters.set(key, formatter);
  }
  return formatter;
}

/**
 * Loads the locale data `Intl` needs for these tags now, outside any render budget (a locale's
 * first formatter took tens of milliseconds on a cold process: past a message's budget).
 */
export function warmIntl(tags: readonly string[]): void {
  for (const tag of tags) {
    try {
      cached(`n\u0000${tag}`, () => new Intl.NumberFormat(tag)).format(1.5);
      new Intl.NumberFormat(tag, { style: 'currency', currency: 'EUR' }).format(1);
      cached(`r\u0000${tag}`, () => new Intl.RelativeTimeFormat(tag, { numeric: 'auto' }));
      new Intl.PluralRules(tag).select(1);
      new Intl.DateTimeFormat(tag, { dateStyle: 'short', timeStyle: 'short' }).format(0);
    } catch {
      // A tag Intl cannot use is refused at PUT and at ingest; nothing to warm.
    }
  }
}

const warmZones = new Set<string>();

/** Loads a time zone's data the first time it is seen (outside any render budget), like warmIntl. */
export function warmZone(timeZone: string): void {
  if (warmZones.has(timeZone)) return;
  if (warmZones.size < 1_000) warmZones.add(timeZone);
  try {
    new Intl.DateTimeFormat('en', { timeZone, timeStyle: 'short' }).format(0);
  } catch {
    // Zones are checked where they are set; a bad one fails the render that uses it.
  }
}

export class FilterArgumentError extends Error {
  override name = 'FilterArgumentError';
}

const DATE_STYLES = new Set(['short', 'medium', 'long', 'full']);

/** An instant from an ISO 8601 string, epoch milliseconds or a Date; null when it is none. */
export function instantOf(value: unknown): number | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime();
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.length <= 64) {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  }
  return null;
}

/** A number from a number or a numeric string; null when it is none. */
function numberOf(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) && value.length <= 64)
    return Number(value);
  return null;
}

function datetime(this: FilterThis, value: unknown, style: unknown = 'medium'): unknown {
  if (typeof style !== 'string' || !DATE_STYLES.has(style))
    throw new FilterArgumentError('datetime: the style must be "short", "medium", "long" or "full"');
  const at = instantOf(value);
  if (at === null) return value;
  const { locale, timeZone } = localeOf(this);
  const format = cached(
    `d\u0000${locale}\u0000${timeZone}\u0000${style}`,
    () =>
      new Intl.DateTimeFormat(locale, {
        dateStyle: style as Intl.DateTimeFormatOptions['dateStyle'],
        timeStyle: style as Intl.DateTimeFormatOptions['timeStyle'],
        timeZone,
      }),
  );
  return format.format(at);
}

function number(this: FilterThis, value: unknown): unknown {
  const n = numberOf(value);
  if (n === null) return value;
  const { locale } = localeOf(this);
  return cached(`n\u0000${locale}`, () => new Intl.NumberFormat(locale)).format(n);
}

function currency(this: FilterThis, value: unknown, code: unknown): unknown {
  if (typeof code !== 'string' || !/^[A-Za-z]{3}$/.test(code))
    throw new FilterArgumentError('currency: needs a three-letter ISO 4217 code, e.g. currency: "EUR"');
  const n = numberOf(value);
  if (n === null) return value;
  const { locale } = localeOf(this);
  const upper = code.toUpperCase();
  return cached(
    `c\u0000${locale}\u0000${upper}`,
    () => new Intl.NumberFormat(locale, { style: 'currency', currency: upper }),
  ).format(n);
}

/** Largest unit first: a difference is told in the largest unit it has one of. */
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['week', 7 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];

function relative(this: FilterThis, value: unknown): unknown {
  const at = instantOf(value);
  if (at === null) return value;
  const { locale, now } = localeOf(this);
  const diff = at - now;
  const [unit, size] = UNITS.find(([, ms]) => Math.abs(diff) >= ms) ?? UNITS.at(-1)!;
  const format = cached(`r\u0000${locale}`, () => new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }));
  return format.format(Math.round(diff / size), unit);
}

/** `t: count: 3, name: "Ada"`: LiquidJS hands named arguments over as [name, value] pairs. */
function t(this: FilterThis, key: unknown, ...args: unknown[]): string {
  if (typeof key !== 'string') throw new FilterArgumentError('t: the message key must be a string');
  const { messages, timeZone } = localeOf(this);
  if (!messages) throw new FilterArgumentError(`t: no messages here (message "${key}")`);
  const values: Record<string, unknown> = Object.create(null);
  for (const arg of args) {
    if (!Array.isArray(arg) || arg.length !== 2 || typeof arg[0] !== 'string')
      throw new FilterArgumentError(`t: arguments are named, e.g. t: count: data.count (message "${key}")`);
    values[arg[0]] = arg[1];
  }
  try {
    return messages.format(key, values as Record<string, string | number>, timeZone);
  } catch (error) {
    throw new FilterArgumentError(`t: message "${key}": ${(error as Error).message.split('\n')[0]}`);
  }
}

/** Adds the locale-aware filters to an engine (before its filters are put on the render clock). */
export function registerIntlFilters(engine: Liquid): void {
  engine.registerFilter('datetime', datetime as never);
  engine.registerFilter('number', number as never);
  engine.registerFilter('currency', currency as never);
  engine.registerFilter('relative', relative as never);
  engine.registerFilter('t', t as never);
}
