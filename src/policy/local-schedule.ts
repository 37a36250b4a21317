import { parseDuration } from '../shared/time.ts';
import { parseClockTime, zoneClock } from './quiet-hours.ts';

/**
 * Local-time schedules (event option `"schedule": {"localTime": "09:00", "spreadOver": "60m"}`):
 * when each recipient's delivery is due. Pure (the clock is an argument); time-zone rules come
 * from Intl through quiet-hours.ts, so both policies read a wall clock the same way.
 *
 * What a schedule means, exactly:
 * - A recipient's window opens at the FIRST instant at or after `from` (the event's `sendAt`, or
 *   when it was accepted) at which their wall clock shows `localTime` (`HH:MM:00`). Asked at
 *   09:20 for "09:00", that is 09:00 tomorrow; the rest of today's window is not used.
 * - A time that does not exist that day (spring-forward gap: 02:30 in Los Angeles on
 *   2026-03-08) opens at the first instant after the gap (03:00 local) — the first moment their
 *   clock shows a time at or past it, as quiet hours read it.
 * - A time that happens twice (fall-back: 01:30 in Los Angeles on 2026-11-01) opens at its first
 *   occurrence; asked between the two, at the second — the next time the clock shows it.
 * - `spreadOver` (0–24 h) moves each recipient by a stable offset in [0, spreadOver), whole
 *   seconds, from a hash of their subscriber id: a recipient always gets the same place in the
 *   window, recipients are spread evenly in expectation (not by position: no job sees them
 *   all), and recipients of one zone fall into at most one bucket per second.
 */

const SECOND = 1000;
const MINUTE = 60_000;
const DAY = 86_400_000;

/** The widest `spreadOver` an event may ask for. */
export const MAX_SPREAD_MS = DAY;

export interface LocalSchedule {
  /** `HH:MM`, 00:00–23:59. */
  localTime: string;
  /** A duration such as "60m" (0–24 h); absent means everyone at `localTime`. */
  spreadOver?: string;
}

/**
 * The first instant (epoch ms) at or after `from` at which the wall clock in `timeZone` shows
 * `localTime` (see the rules above for gaps and repeated hours).
 *
 * @throws RangeError when `localTime` is not `HH:MM` or `timeZone` is not a zone Intl knows.
 * @example
 * nextLocalTime('09:00', 'Asia/Tokyo', Date.parse('2026-12-01T03:00:00Z'));
 * // Date.parse('2026-12-02T00:00:00Z'): it is already 12:00 in Tokyo, so 09:00 tomorrow
 */
export function nextLocalTime(localTime: string, timeZone: string, from: number): number {
  const minutes = parseClockTime(localTime);
  if (minutes < 0) throw new RangeError(`not an HH:MM time: ${localTime}`);
  const clock = zoneClock(timeZone, from);
  const today = Math.floor(clock.localOf(from) / DAY);
  let next = Number.POSITIVE_INFINITY;
  // Yesterday's date may still be ahead (a clock set back past midnight), and tomorrow's may be
  // skipped altogether (a zone moving across the date line): a few days' candidates, both
  // occurrences of each, and the earliest not before `from` wins.
  for (let day = today - 1; day <= today + 2; day++) {
    const local = day * DAY + minutes * MINUTE;
    for (const later of [false, true]) {
      const instant = clock.instantOf(local, later);
      if (instant >= from && instant < next) next = instant;
    }
  }
  return next;
}

/**
 * A recipient's stable place in a window of `spreadMs`: whole seconds in [0, spreadMs), from a
 * hash of `key` (their subscriber id). FNV-1a mixed by MurmurHash3's finaliser, so ids that
 * differ in one character (user_1, user_2) land far apart instead of next to each other.
 */
export function spreadOffset(key: string, spreadMs: number): number {
  if (!(spreadMs >= SECOND)) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  const fraction = (hash >>> 0) / 2 ** 32;
  return Math.floor((fraction * Math.min(spreadMs, MAX_SPREAD_MS)) / SECOND) * SECOND;
}

/** `spreadOver` in ms, or null when it is not a duration from 0 to 24 h. */
export function spreadOverMs(text: string | undefined): number | null {
  if (text === undefined) return 0;
  const ms = parseDuration(text);
  return ms !== null && ms <= MAX_SPREAD_MS ? ms : null;
}

/**
 * When one recipient's scheduled delivery is due: their next `localTime` at or after `from` in
 * `timeZone`, plus their offset in the spread. A `spreadOver` the API would refuse counts as none.
 *
 * @throws RangeError when `localTime` is not `HH:MM` or `timeZone` is not a zone Intl knows.
 */
export function scheduledAt(
  schedule: LocalSchedule,
  timeZone: string,
  subscriberId: string,
  from: number,
): number {
  const spread = spreadOverMs(schedule.spreadOver) ?? 0;
  return nextLocalTime(schedule.localTime, timeZone, from) + spreadOffset(subscriberId, spread);
}
