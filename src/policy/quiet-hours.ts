import type { QuietHours } from '../shared/model.ts';

/**
 * Quiet hours: a daily window in the subscriber's own IANA zone during which interruptive
 * channels wait. Pure (the clock is an argument); time-zone rules come from Intl, never from a
 * hand-written table.
 *
 * What the window means, exactly:
 * - `start` is inclusive and `end` exclusive; `start > end` crosses midnight (22:00–07:00);
 *   `start == end` is no window at all (not a 24-hour one: a subscriber who wants silence all
 *   day turns the channel off instead).
 * - The window holds from the FIRST moment the subscriber's clock shows `start` to the LAST
 *   moment it shows `end`. That only matters on fall-back days, when an hour of wall-clock time
 *   happens twice: an end inside the repeated hour resolves to its later occurrence (and a start
 *   to its earlier one), so a message never goes out while the subscriber's clock still reads a
 *   time inside the window — sending at the first 01:30 would wake them, and the clock would be
 *   back at 01:00 a minute later.
 * - A start or end that does not exist (spring-forward gap: 02:30 in Los Angeles on 2026-03-08)
 *   resolves to the first instant after the gap (03:00 local), the first moment their clock
 *   shows a time at or past it.
 */

const SECOND = 1000;
const DAY = 86_400_000;

/** Minutes after local midnight for an `HH:MM` time (00:00–23:59), or -1 when `text` is not one. */
export function parseClockTime(text: string): number {
  if (text.length !== 5 || text.charCodeAt(2) !== 58 /* ':' */) return -1;
  const hours = digit(text, 0) * 10 + digit(text, 1);
  const minutes = digit(text, 3) * 10 + digit(text, 4);
  // NaN (a non-digit) fails both comparisons.
  if (!(hours >= 0 && hours <= 23 && minutes >= 0 && minutes <= 59)) return -1;
  return hours * 60 + minutes;
}

function digit(text: string, index: number): number {
  const value = text.charCodeAt(index) - 48;
  return value >= 0 && value <= 9 ? value : Number.NaN;
}

/**
 * A zone's UTC offset over a verified span of time, with at most one change in it: `before`
 * until `change`, `after` from it on (equal, and `change` infinite, in the common case). Built
 * from Intl once per zone and reused for about two weeks, so the hot path does arithmetic only.
 */
interface OffsetSpan {
  from: number;
  to: number;
  before: number;
  after: number;
  change: number;
}

interface Zone {
  format: Intl.DateTimeFormat;
  span: OffsetSpan | null;
}

/** How far around `now` the decision reads the zone's offsets (anchors from yesterday to tomorrow). */
const NEEDED_BEFORE = 2 * DAY;
const NEEDED_AFTER = 3 * DAY;
/** A span is probed this many days ahead, so it serves later calls too. */
const SPAN_DAYS = 16;
/**
 * Zone names are matched case-insensitively by Intl, so subscriber-supplied spellings could grow
 * the cache without bound: past this many names it starts over.
 */
const MAX_CACHED_ZONES = 1024;

const zones = new Map<string, Zone | null>();

function lookupZone(name: string): Zone | null {
  let zone = zones.get(name);
  if (zone !== undefined) return zone;
  try {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zone = { format, span: null };
  } catch {
    zone = null; // remembered too, so a bad zone costs one exception, not one per message
  }
  if (zones.size >= MAX_CACHED_ZONES) zones.clear();
  zones.set(name, zone);
  return zone;
}

/** True when Intl knows `name` as an IANA time zone (`Asia/Tokyo`, `UTC`). */
export function isTimeZone(name: string): boolean {
  return lookupZone(name) !== null;
}

/** The zone's offset (local wall clock minus UTC, in ms) at `instant`, read from Intl. */
function offsetAt(zone: Zone, instant: number): number {
  const whole = instant - (((instant % SECOND) + SECOND) % SECOND);
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of zone.format.formatToParts(whole)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value);
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
    }
  }
  return Date.UTC(year, month - 1, day, hour, minute, second) - whole;
}

/**
 * Probes the offset once a day from two days before `now` onwards. It assumes a zone never
 * changes its offset twice within one day and back (true of tzdata), so equal offsets on two
 * consecutive probes mean no change between them. The one change found is located to the second
 * by bisection; the span stops before a second change.
 */
function buildSpan(zone: Zone, now: number): OffsetSpan {
  const from = now - (((now % SECOND) + SECOND) % SECOND) - NEEDED_BEFORE;
  const before = offsetAt(zone, from);
  let after = before;
  let change = Number.POSITIVE_INFINITY;
  let to = from;
  for (let day = 1; day <= SPAN_DAYS; day++) {
    const probe = from + day * DAY;
    const offset = offsetAt(zone, probe);
    if (offset !== after) {
      if (change !== Number.POSITIVE_INFINITY) break; // a second change: the span ends here
      after = offset;
      change = bisectChange(zone, probe - DAY, probe, before);
    }
    to = probe;
  }
  return { from, to, before, after, change };
}

/** The first whole second in (low, high] whose offset is no longer `before`. */
function bisectChange(zone: Zone, low: number, high: number, before: number): number {
  while (high - low > SECOND) {
    const middle = low + Math.floor((high - low) / (2 * SECOND)) * SECOND;
    if (offsetAt(zone, middle) === before) low = middle;
    else high = middle;
  }
  return high;
}

function spanAround(zone: Zone, now: number): OffsetSpan {
  const span = zone.span;
  if (span !== null && now - NEEDED_BEFORE >= span.from && now + NEEDED_AFTER <= span.to) return span;
  zone.span = buildSpan(zone, now);
  return zone.span;
}

/**
 * The instant at which the wall clock shows `local` (a local time as if it were UTC ms):
 * `later` picks between the two occurrences of an ambiguous time; a time inside a gap gives
 * the first instant after the gap.
 */
function instantOf(span: OffsetSpan, local: number, later: boolean): number {
  const underBefore = local - span.before;
  const underAfter = local - span.after;
  const validBefore = underBefore < span.change;
  const validAfter = underAfter >= span.change;
  if (validBefore && validAfter)
    return later ? Math.max(underBefore, underAfter) : Math.min(underBefore, underAfter);
  if (validBefore) return underBefore;
  if (validAfter) return underAfter;
  return span.change; // in the gap: the clock jumps from before this time to after it here
}

/**
 * A zone's wall clock around `now` (valid from two days before it to three days after), for
 * policies that turn local times into instants (local-schedule.ts) with the same DST rules as
 * quiet hours. Local times are epoch-style ms "as if the wall clock were UTC".
 */
export interface ZoneClock {
  /** What the wall clock shows at `instant`. */
  localOf(instant: number): number;
  /**
   * The instant the wall clock shows `local`: `later` picks between the two occurrences of a
   * repeated time; a time inside a gap gives the first instant after the gap.
   */
  instantOf(local: number, later: boolean): number;
}

/**
 * The wall clock of `timeZone` around `now`.
 *
 * @throws RangeError when `timeZone` is not a zone Intl knows (check with isTimeZone first).
 */
export function zoneClock(timeZone: string, now: number): ZoneClock {
  const zone = lookupZone(timeZone);
  if (zone === null) throw new RangeError(`unknown time zone: ${timeZone}`);
  const span = spanAround(zone, now);
  return {
    localOf: (instant) => instant + (instant < span.change ? span.before : span.after),
    instantOf: (local, later) => instantOf(span, local, later),
  };
}

/**
 * When `now` falls inside the quiet-hours `window` in `timeZone`, the UTC instant (epoch ms) at
 * which it ends; null when it does not, when start equals end (no window) or when a time is not
 * `HH:MM` (the preference API refuses those; a stored one never blocks delivery).
 *
 * @throws RangeError when `timeZone` is not a zone Intl knows (check with isTimeZone first).
 * @example
 * quietUntil({ start: '22:00', end: '07:00' }, 'Asia/Tokyo', Date.parse('2026-12-01T15:00:00Z'));
 * // Date.parse('2026-12-01T22:00:00Z'): midnight in Tokyo, quiet until 07:00 there
 */
export function quietUntil(window: QuietHours, timeZone: string, now: number): number | null {
  const start = parseClockTime(window.start);
  const end = parseClockTime(window.end);
  if (start < 0 || end < 0 || start === end) return null;
  const zone = lookupZone(timeZone);
  if (zone === null) throw new RangeError(`unknown time zone: ${timeZone}`);
  const span = spanAround(zone, now);

  const localNow = now + (now < span.change ? span.before : span.after);
  const today = Math.floor(localNow / DAY);
  const startMs = start * 60_000;
  const endMs = end * 60_000;
  const endDayOffset = start > end ? 1 : 0; // a window across midnight ends the next day
  // A window that began yesterday, today or (on a day the clock went back past midnight)
  // tomorrow's date may hold `now`; if two overlap around a repeated hour, the later end wins.
  let until: number | null = null;
  for (let day = today - 1; day <= today + 1; day++) {
    const opens = instantOf(span, day * DAY + startMs, false);
    if (opens > now) continue;
    const closes = instantOf(span, (day + endDayOffset) * DAY + endMs, true);
    if (now < closes && (until === null || closes > until)) until = closes;
  }
  return until;
}

/**
 * The instant (epoch ms) the day holding `now` ends in `timeZone`: the first moment after `now`
 * at which the wall clock shows 00:00 (the first instant after the gap, where a zone skips
 * midnight; the later occurrence, when `now` is in a repeated hour that already showed it).
 *
 * @throws RangeError when `timeZone` is not a zone Intl knows (check with isTimeZone first).
 * @example
 * nextLocalMidnight('Asia/Tokyo', Date.parse('2026-12-01T12:00:00Z'));
 * // Date.parse('2026-12-01T15:00:00Z'): midnight of 2 December in Tokyo
 */
export function nextLocalMidnight(timeZone: string, now: number): number {
  const zone = lookupZone(timeZone);
  if (zone === null) throw new RangeError(`unknown time zone: ${timeZone}`);
  const span = spanAround(zone, now);
  const localNow = now + (now < span.change ? span.before : span.after);
  const tomorrow = (Math.floor(localNow / DAY) + 1) * DAY;
  const first = instantOf(span, tomorrow, false);
  if (first > now) return first;
  const second = instantOf(span, tomorrow, true);
  return second > now ? second : instantOf(span, tomorrow + DAY, false);
}

/** A subscriber's quiet hours as one moment reads them: the window (if any) and their zone. */
export interface QuietState {
  window: QuietHours | null;
  zone: string;
}

/**
 * After a subscriber's quiet hours or zone changed from `before` to `after`: whether what the old
 * hours held at `now` may go sooner — the new hours hold nothing at this moment, or end before
 * the old ones. False when nothing was held, or the new hours hold as long or longer (the held
 * messages' own wake-up decides again then).
 */
export function quietEndsSooner(before: QuietState, after: QuietState, now: number): boolean {
  const held = before.window ? quietUntil(before.window, before.zone, now) : null;
  if (held === null) return false;
  const until = after.window ? quietUntil(after.window, after.zone, now) : null;
  return until === null || until < held;
}
