import { describe, expect, it } from 'vitest';
import { isTimeZone, parseClockTime, quietEndsSooner, quietUntil } from '../../../src/policy/quiet-hours.ts';

const at = (iso: string) => Date.parse(iso);
const until = (start: string, end: string, zone: string, now: string) => {
  const result = quietUntil({ start, end }, zone, at(now));
  return result === null ? null : new Date(result).toISOString();
};

describe('quietUntil: zones without daylight saving (Asia/Tokyo, UTC+9)', () => {
  it.each([
    // window, now (UTC), expected end (UTC) or null — local time in the comment
    ['22:00', '07:00', '2026-12-01T12:59:59.999Z', null], // 21:59:59.999, just before
    ['22:00', '07:00', '2026-12-01T13:00:00.000Z', '2026-12-01T22:00:00.000Z'], // 22:00, start inclusive
    ['22:00', '07:00', '2026-12-01T14:59:59.999Z', '2026-12-01T22:00:00.000Z'], // 23:59:59.999
    ['22:00', '07:00', '2026-12-01T15:00:00.000Z', '2026-12-01T22:00:00.000Z'], // 00:00, across midnight
    ['22:00', '07:00', '2026-12-01T21:59:59.999Z', '2026-12-01T22:00:00.000Z'], // 06:59:59.999
    ['22:00', '07:00', '2026-12-01T22:00:00.000Z', null], // 07:00, end exclusive
    ['22:00', '07:00', '2026-12-01T03:00:00.000Z', null], // 12:00, midday
    ['09:00', '17:00', '2026-12-01T00:00:00.000Z', '2026-12-01T08:00:00.000Z'], // 09:00, same-day window
    ['09:00', '17:00', '2026-12-01T07:59:00.000Z', '2026-12-01T08:00:00.000Z'], // 16:59
    ['09:00', '17:00', '2026-12-01T08:00:00.000Z', null], // 17:00
    ['09:00', '17:00', '2026-11-30T23:59:59.999Z', null], // 08:59:59.999
    ['00:00', '06:00', '2026-12-01T15:00:00.000Z', '2026-12-01T21:00:00.000Z'], // 00:00 starts at midnight
    ['18:00', '00:00', '2026-12-01T14:59:00.000Z', '2026-12-01T15:00:00.000Z'], // 23:59, ends at midnight
    ['18:00', '00:00', '2026-12-01T15:00:00.000Z', null], // 00:00
  ])('%s–%s at %s → %s', (start, end, now, expected) => {
    expect(until(start, end, 'Asia/Tokyo', now)).toBe(expected);
  });
});

describe('quietUntil: America/Los_Angeles (PST UTC−8, PDT UTC−7)', () => {
  it.each([
    // An ordinary summer night, then an ordinary winter night.
    ['22:00', '07:00', '2026-06-16T05:00:00.000Z', '2026-06-16T14:00:00.000Z'], // Jun 15 22:00 PDT
    ['22:00', '07:00', '2026-06-16T04:59:59.999Z', null],
    ['22:00', '07:00', '2026-12-02T06:00:00.000Z', '2026-12-02T15:00:00.000Z'], // Dec 1 22:00 PST
    // Spring forward, Sunday 2026-03-08: 02:00 PST becomes 03:00 PDT at 10:00Z.
    ['22:00', '07:00', '2026-03-08T06:00:00.000Z', '2026-03-08T14:00:00.000Z'], // starts in PST, ends 07:00 PDT
    ['22:00', '02:30', '2026-03-08T09:00:00.000Z', '2026-03-08T10:00:00.000Z'], // 02:30 does not exist → 03:00 PDT
    ['22:00', '02:30', '2026-03-08T10:00:00.000Z', null], // 03:00 PDT, past the end
    ['22:00', '02:00', '2026-03-08T09:59:59.999Z', '2026-03-08T10:00:00.000Z'], // ends exactly at the change
    ['22:00', '02:00', '2026-03-08T10:00:00.000Z', null],
    ['22:00', '03:00', '2026-03-08T09:59:59.999Z', '2026-03-08T10:00:00.000Z'], // 03:00 PDT is the change
    ['02:30', '06:00', '2026-03-08T09:59:59.999Z', null], // 01:59:59 PST: the start is in the gap
    ['02:30', '06:00', '2026-03-08T10:00:00.000Z', '2026-03-08T13:00:00.000Z'], // 03:00 PDT: started at the gap
    // Fall back, Sunday 2026-11-01: 02:00 PDT becomes 01:00 PST at 09:00Z; 01:00–01:59 happens twice.
    ['22:00', '07:00', '2026-11-01T05:00:00.000Z', '2026-11-01T15:00:00.000Z'], // Oct 31 22:00 PDT → 07:00 PST
    ['22:00', '01:30', '2026-11-01T08:15:00.000Z', '2026-11-01T09:30:00.000Z'], // 01:15 PDT → the later 01:30
    ['22:00', '01:30', '2026-11-01T08:45:00.000Z', '2026-11-01T09:30:00.000Z'], // 01:45 PDT: the clock returns to 01:00
    ['22:00', '01:30', '2026-11-01T09:15:00.000Z', '2026-11-01T09:30:00.000Z'], // 01:15 PST
    ['22:00', '01:30', '2026-11-01T09:30:00.000Z', null], // 01:30 PST
    ['22:00', '01:00', '2026-11-01T07:59:00.000Z', '2026-11-01T09:00:00.000Z'], // 00:59 PDT → 01:00 PST
    ['22:00', '01:00', '2026-11-01T09:00:00.000Z', null],
    ['22:00', '02:00', '2026-11-01T08:59:59.999Z', '2026-11-01T10:00:00.000Z'], // 02:00 happens once, in PST
    ['22:00', '02:00', '2026-11-01T09:30:00.000Z', '2026-11-01T10:00:00.000Z'], // ends an hour after the change
    ['22:00', '02:00', '2026-11-01T10:00:00.000Z', null],
    ['01:30', '06:00', '2026-11-01T08:29:59.999Z', null], // 01:29:59 PDT
    ['01:30', '06:00', '2026-11-01T08:30:00.000Z', '2026-11-01T14:00:00.000Z'], // the first 01:30 starts it
    ['01:30', '06:00', '2026-11-01T09:10:00.000Z', '2026-11-01T14:00:00.000Z'], // 01:10 PST: still quiet
  ])('%s–%s at %s → %s', (start, end, now, expected) => {
    expect(until(start, end, 'America/Los_Angeles', now)).toBe(expected);
  });
});

describe('quietUntil: Europe/Berlin (CET UTC+1, CEST UTC+2)', () => {
  it.each([
    ['22:00', '07:00', '2026-07-01T20:00:00.000Z', '2026-07-02T05:00:00.000Z'], // summer, 22:00 CEST
    ['22:00', '07:00', '2026-01-15T21:00:00.000Z', '2026-01-16T06:00:00.000Z'], // winter, 22:00 CET
    ['22:00', '07:00', '2026-01-16T06:00:00.000Z', null],
    // Spring forward, Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z.
    ['22:00', '07:00', '2026-03-28T21:00:00.000Z', '2026-03-29T05:00:00.000Z'], // 22:00 CET → 07:00 CEST
    ['23:00', '02:30', '2026-03-29T00:30:00.000Z', '2026-03-29T01:00:00.000Z'], // 02:30 does not exist → 03:00 CEST
    ['22:00', '02:00', '2026-03-29T00:59:59.999Z', '2026-03-29T01:00:00.000Z'], // ends exactly at the change
    ['22:00', '02:00', '2026-03-29T01:00:00.000Z', null],
    ['02:15', '05:00', '2026-03-29T01:00:00.000Z', '2026-03-29T03:00:00.000Z'], // start in the gap
    // Fall back, Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z; 02:00–02:59 happens twice.
    ['22:00', '07:00', '2026-10-24T20:00:00.000Z', '2026-10-25T06:00:00.000Z'], // 22:00 CEST → 07:00 CET
    ['22:00', '02:30', '2026-10-24T23:00:00.000Z', '2026-10-25T01:30:00.000Z'], // 01:00 CEST → the later 02:30
    ['22:00', '02:30', '2026-10-25T00:45:00.000Z', '2026-10-25T01:30:00.000Z'], // 02:45 CEST
    ['22:00', '02:30', '2026-10-25T01:30:00.000Z', null],
    ['22:00', '03:00', '2026-10-25T00:30:00.000Z', '2026-10-25T02:00:00.000Z'], // 03:00 happens once, in CET
    ['22:00', '02:00', '2026-10-25T00:30:00.000Z', '2026-10-25T01:00:00.000Z'], // ends exactly at the change
    ['22:00', '02:00', '2026-10-25T01:00:00.000Z', null],
  ])('%s–%s at %s → %s', (start, end, now, expected) => {
    expect(until(start, end, 'Europe/Berlin', now)).toBe(expected);
  });
});

describe('quietUntil: no window', () => {
  it.each([
    ['09:00', '09:00'], // start == end is no window, not a whole day
    ['00:00', '00:00'],
    ['9:00', '17:00'],
    ['24:00', '07:00'],
    ['22:60', '07:00'],
    ['22:00', ''],
    ['ab:cd', '07:00'],
    ['22:00:00', '07:00'],
  ])('%s–%s is never quiet', (start, end) => {
    for (let hour = 0; hour < 24; hour++) {
      const now = at('2026-12-01T00:00:00Z') + hour * 3_600_000;
      expect(quietUntil({ start, end }, 'Asia/Tokyo', now)).toBeNull();
    }
  });

  it('an unknown zone is a RangeError (callers check isTimeZone)', () => {
    expect(() => quietUntil({ start: '22:00', end: '07:00' }, 'Mars/Olympus', 0)).toThrow(RangeError);
  });
});

describe('isTimeZone and parseClockTime', () => {
  it.each([
    ['Asia/Tokyo', true],
    ['UTC', true],
    ['Europe/Berlin', true],
    ['Mars/Olympus', false],
    ['', false],
  ])('isTimeZone(%j) is %s', (zone, expected) => {
    expect(isTimeZone(zone)).toBe(expected);
  });

  it.each([
    ['00:00', 0],
    ['07:30', 450],
    ['23:59', 1439],
    ['24:00', -1],
    ['12:60', -1],
    ['1:00', -1],
    ['12-00', -1],
    ['１２:00', -1],
  ])('parseClockTime(%j) is %i', (text, expected) => {
    expect(parseClockTime(text)).toBe(expected);
  });
});

/** The subscriber's wall clock, read straight from Intl: minutes after local midnight. */
const clocks = new Map<string, Intl.DateTimeFormat>();
function wallMinutes(zone: string, instant: number): number {
  let clock = clocks.get(zone);
  if (!clock) {
    clock = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      hour: 'numeric',
      minute: 'numeric',
    });
    clocks.set(zone, clock);
  }
  const parts = clock.formatToParts(instant);
  const value = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  return value('hour') * 60 + value('minute');
}

const shows = (start: number, end: number, minutes: number) =>
  start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;

describe('quietUntil: minute by minute across every 2026 transition day', () => {
  const days: [string, string][] = [
    ['America/Los_Angeles', '2026-03-08'],
    ['America/Los_Angeles', '2026-11-01'],
    ['Europe/Berlin', '2026-03-29'],
    ['Europe/Berlin', '2026-10-25'],
    ['Asia/Tokyo', '2026-03-08'],
  ];
  const windows: [string, string][] = [
    ['22:00', '07:00'],
    ['22:00', '01:30'],
    ['23:00', '02:00'],
    ['22:00', '02:30'],
    ['01:30', '06:00'],
    ['02:30', '03:30'],
    ['09:00', '17:00'],
  ];
  it.each(days)('%s on %s holds its invariants', (zone, date) => {
    const from = at(`${date}T00:00:00Z`) - 86_400_000;
    for (const [start, end] of windows) {
      const startMinutes = parseClockTime(start);
      const endMinutes = parseClockTime(end);
      let previous: number | null = null;
      for (let now = from; now < from + 3 * 86_400_000; now += 60_000) {
        const result = quietUntil({ start, end }, zone, now);
        const context = `${start}–${end} at ${new Date(now).toISOString()}`;
        // The clock showing a quiet time always holds messages back.
        if (shows(startMinutes, endMinutes, wallMinutes(zone, now))) expect(result, context).not.toBeNull();
        if (result !== null) {
          expect(result, context).toBeGreaterThan(now);
          // The end is a moment the clock shows a time outside the window, and nothing is quiet then.
          expect(shows(startMinutes, endMinutes, wallMinutes(zone, result)), context).toBe(false);
          expect(quietUntil({ start, end }, zone, result), context).toBeNull();
        }
        // A window does not flicker: once quiet, every later minute before its end is quiet until then.
        if (previous !== null && now < previous) expect(result, context).toBe(previous);
        previous = result ?? null;
      }
    }
  });
});

describe('quietEndsSooner (whether a change of quiet hours lets held messages go sooner)', () => {
  // 23:00 in Berlin (UTC+1 in December).
  const now = Date.parse('2026-12-01T22:00:00Z');
  const night = { start: '22:00', end: '07:00' };
  const berlin = (window: { start: string; end: string } | null) => ({ window, zone: 'Europe/Berlin' });
  const cases: [string, ReturnType<typeof berlin>, ReturnType<typeof berlin>, boolean][] = [
    ['cleared', berlin(night), berlin(null), true],
    ['the same hours', berlin(night), berlin(night), false],
    ['ends sooner', berlin(night), berlin({ start: '22:00', end: '05:00' }), true],
    ['ends later', berlin(night), berlin({ start: '22:00', end: '09:00' }), false],
    ['no longer covers now', berlin(night), berlin({ start: '23:30', end: '07:00' }), true],
    ['nothing held before', berlin(null), berlin(night), false],
    ['a zone where it is day', berlin(night), { window: night, zone: 'America/New_York' }, true],
    ['a zone where it ends later', berlin(night), { window: night, zone: 'Europe/London' }, false],
  ];
  it.each(cases)('%s', (_, before, after, expected) => {
    expect(quietEndsSooner(before, after, now)).toBe(expected);
  });
});
