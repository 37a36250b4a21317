import { describe, expect, it } from 'vitest';
import {
  MAX_SPREAD_MS,
  nextLocalTime,
  scheduledAt,
  spreadOffset,
  spreadOverMs,
} from '../../../src/policy/local-schedule.ts';

const next = (localTime: string, zone: string, from: string) =>
  new Date(nextLocalTime(localTime, zone, Date.parse(from))).toISOString();

describe('nextLocalTime: ordinary days', () => {
  it.each([
    // local time, zone, from (UTC), expected (UTC) — local time of `from` in the comment
    ['09:00', 'UTC', '2026-12-01T08:59:59.999Z', '2026-12-01T09:00:00.000Z'],
    ['09:00', 'UTC', '2026-12-01T09:00:00.000Z', '2026-12-01T09:00:00.000Z'], // at the instant: now
    ['09:00', 'UTC', '2026-12-01T09:00:00.001Z', '2026-12-02T09:00:00.000Z'], // just past: tomorrow
    ['23:59', 'UTC', '2026-12-31T23:59:30.000Z', '2027-01-01T23:59:00.000Z'], // across a year end
    ['00:00', 'UTC', '2026-12-01T12:00:00.000Z', '2026-12-02T00:00:00.000Z'],
    ['09:00', 'America/Los_Angeles', '2026-06-15T12:00:00.000Z', '2026-06-15T16:00:00.000Z'], // 05:00 PDT
    ['09:00', 'America/Los_Angeles', '2026-12-01T12:00:00.000Z', '2026-12-01T17:00:00.000Z'], // 04:00 PST
    ['09:00', 'America/Los_Angeles', '2026-12-01T18:00:00.000Z', '2026-12-02T17:00:00.000Z'], // 10:00 PST
    // East of UTC: it is already past 09:00 there, so the next 09:00 is tomorrow (their date and UTC's).
    ['09:00', 'Asia/Tokyo', '2026-12-01T03:00:00.000Z', '2026-12-02T00:00:00.000Z'], // Dec 1 12:00 JST
    ['09:00', 'Asia/Tokyo', '2026-11-30T23:59:00.000Z', '2026-12-01T00:00:00.000Z'], // Dec 1 08:59 JST
    ['09:00', 'Asia/Tokyo', '2026-11-30T16:00:00.000Z', '2026-12-01T00:00:00.000Z'], // Dec 1 01:00 JST, UTC's Nov 30
    ['09:00', 'Asia/Kolkata', '2026-12-01T04:00:00.000Z', '2026-12-02T03:30:00.000Z'], // 09:30 IST (UTC+5:30)
    ['09:00', 'Asia/Kathmandu', '2026-12-01T00:00:00.000Z', '2026-12-01T03:15:00.000Z'], // 05:45 (UTC+5:45)
    // Either side of the date line: the same UTC instant, local dates a day apart.
    ['09:00', 'Pacific/Kiritimati', '2026-12-01T12:00:00.000Z', '2026-12-01T19:00:00.000Z'], // Dec 2 02:00 (UTC+14)
    ['09:00', 'Pacific/Pago_Pago', '2026-12-01T12:00:00.000Z', '2026-12-01T20:00:00.000Z'], // Dec 1 01:00 (UTC−11)
  ])('%s in %s from %s → %s', (localTime, zone, from, expected) => {
    expect(next(localTime, zone, from)).toBe(expected);
  });
});

describe('nextLocalTime: America/Los_Angeles transition days (PST UTC−8, PDT UTC−7)', () => {
  it.each([
    // Spring forward, Sunday 2026-03-08: 02:00 PST becomes 03:00 PDT at 10:00Z; 02:00–02:59 never happens.
    ['02:30', '2026-03-08T08:00:00.000Z', '2026-03-08T10:00:00.000Z'], // 00:00 PST: 02:30 → 03:00 PDT
    ['02:00', '2026-03-08T08:00:00.000Z', '2026-03-08T10:00:00.000Z'], // the gap's first minute
    ['03:00', '2026-03-08T08:00:00.000Z', '2026-03-08T10:00:00.000Z'], // 03:00 PDT exists: the same instant
    ['01:59', '2026-03-08T08:00:00.000Z', '2026-03-08T09:59:00.000Z'], // 01:59 PST, just before
    ['02:30', '2026-03-08T10:00:00.001Z', '2026-03-09T09:30:00.000Z'], // past the gap: 02:30 PDT tomorrow
    ['09:00', '2026-03-08T08:00:00.000Z', '2026-03-08T16:00:00.000Z'], // 09:00 PDT
    ['09:00', '2026-03-07T18:00:00.000Z', '2026-03-08T16:00:00.000Z'], // Mar 7 10:00 PST: a 23-hour wait
    // Fall back, Sunday 2026-11-01: 02:00 PDT becomes 01:00 PST at 09:00Z; 01:00–01:59 happens twice.
    ['01:30', '2026-11-01T07:00:00.000Z', '2026-11-01T08:30:00.000Z'], // 00:00 PDT → the first 01:30
    ['01:30', '2026-11-01T08:30:00.000Z', '2026-11-01T08:30:00.000Z'], // exactly the first
    ['01:30', '2026-11-01T08:45:00.000Z', '2026-11-01T09:30:00.000Z'], // 01:45 PDT → the second, in PST
    ['01:30', '2026-11-01T09:31:00.000Z', '2026-11-02T09:30:00.000Z'], // 01:31 PST: both passed
    ['02:00', '2026-11-01T08:45:00.000Z', '2026-11-01T10:00:00.000Z'], // 02:00 happens once, in PST
    ['09:00', '2026-10-31T17:00:00.000Z', '2026-11-01T17:00:00.000Z'], // Oct 31 10:00 PDT: a 25-hour wait
  ])('%s from %s → %s', (localTime, from, expected) => {
    expect(next(localTime, 'America/Los_Angeles', from)).toBe(expected);
  });
});

describe('nextLocalTime: Europe/Berlin transition days (CET UTC+1, CEST UTC+2)', () => {
  it.each([
    ['09:00', '2026-07-01T05:00:00.000Z', '2026-07-01T07:00:00.000Z'], // summer, 07:00 CEST
    ['09:00', '2026-01-15T05:00:00.000Z', '2026-01-15T08:00:00.000Z'], // winter, 06:00 CET
    ['00:00', '2026-07-01T20:00:00.000Z', '2026-07-01T22:00:00.000Z'], // 22:00 CEST → midnight
    // Spring forward, Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z.
    ['02:30', '2026-03-28T23:30:00.000Z', '2026-03-29T01:00:00.000Z'], // 00:30 CET: 02:30 → 03:00 CEST
    ['09:00', '2026-03-28T23:30:00.000Z', '2026-03-29T07:00:00.000Z'], // 09:00 CEST
    ['09:00', '2026-03-28T09:00:00.000Z', '2026-03-29T07:00:00.000Z'], // Mar 28 10:00 CET → tomorrow, in CEST
    // Fall back, Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z; 02:00–02:59 happens twice.
    ['02:30', '2026-10-24T23:00:00.000Z', '2026-10-25T00:30:00.000Z'], // 01:00 CEST → the first 02:30
    ['02:30', '2026-10-25T00:45:00.000Z', '2026-10-25T01:30:00.000Z'], // 02:45 CEST → the second, in CET
    ['02:30', '2026-10-25T01:30:00.001Z', '2026-10-26T01:30:00.000Z'], // both passed: 02:30 CET tomorrow
    ['09:00', '2026-10-24T08:00:00.000Z', '2026-10-25T08:00:00.000Z'], // Oct 24 10:00 CEST → 09:00 CET
  ])('%s from %s → %s', (localTime, from, expected) => {
    expect(next(localTime, 'Europe/Berlin', from)).toBe(expected);
  });
});

describe('nextLocalTime: a zone that skipped a whole day (Pacific/Apia, 2011-12-30)', () => {
  it('treats the skipped date like any gap: its 09:00 opens when the clock jumps past it', () => {
    // Dec 29 10:00 local (UTC−10); Samoa went from Dec 29 23:59:59 straight to Dec 31 00:00 (UTC+14)
    // at 10:00Z, so "Dec 30 09:00" opens then — the first moment the clock shows a time past it.
    expect(next('09:00', 'Pacific/Apia', '2011-12-29T20:00:00.000Z')).toBe('2011-12-30T10:00:00.000Z');
    // From there on, an ordinary day: Dec 31 09:00 (UTC+14).
    expect(next('09:00', 'Pacific/Apia', '2011-12-30T10:00:00.001Z')).toBe('2011-12-30T19:00:00.000Z');
  });
});

describe('nextLocalTime: what it refuses', () => {
  it.each(['24:00', '9:00', '09:60', '', 'noon'])('throws on local time %j', (localTime) => {
    expect(() => nextLocalTime(localTime, 'UTC', 0)).toThrow(RangeError);
  });
  it('throws on a zone Intl does not know', () => {
    expect(() => nextLocalTime('09:00', 'Mars/Olympus', 0)).toThrow(RangeError);
  });
});

describe('spreadOffset', () => {
  it.each([0, 999, -5, Number.NaN])('is 0 for a spread of %s ms (under a second)', (spread) => {
    expect(spreadOffset('user_1', spread)).toBe(0);
  });

  it('is whole seconds in [0, spread), the same for the same subscriber every time', () => {
    for (const spread of [1_000, 1_500, 60_000, 3_600_000, MAX_SPREAD_MS]) {
      for (let i = 0; i < 200; i++) {
        const offset = spreadOffset(`user_${i}`, spread);
        expect(offset % 1000).toBe(0);
        expect(offset).toBeGreaterThanOrEqual(0);
        expect(offset).toBeLessThan(spread);
        expect(spreadOffset(`user_${i}`, spread)).toBe(offset);
      }
    }
  });

  it('spreads ids that differ in one character evenly over the window (six 10-minute slices of an hour)', () => {
    const slices = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 1200; i++) slices[Math.floor(spreadOffset(`user_${i}`, 3_600_000) / 600_000)]!++;
    // 200 each on average; a hash without mixing puts ids like these in one or two slices.
    for (const count of slices) expect(count).toBeGreaterThan(150);
    for (const count of slices) expect(count).toBeLessThan(250);
  });

  it('never spreads past 24 hours', () => {
    for (let i = 0; i < 200; i++)
      expect(spreadOffset(`u${i}`, 10 * MAX_SPREAD_MS)).toBeLessThan(MAX_SPREAD_MS);
  });
});

describe('spreadOverMs', () => {
  it.each([
    [undefined, 0],
    ['0s', 0],
    ['90s', 90_000],
    ['60m', 3_600_000],
    ['24h', 86_400_000],
    ['1d', 86_400_000],
    ['25h', null],
    ['2d', null],
    ['99999999999999999999h', null],
    ['soon', null],
  ])('%j → %s', (text, expected) => {
    expect(spreadOverMs(text)).toBe(expected);
  });
});

describe('scheduledAt', () => {
  const from = Date.parse('2026-12-01T12:00:00.000Z');

  it('is the next local time plus the subscriber’s place in the spread', () => {
    const base = Date.parse('2026-12-02T00:00:00.000Z'); // 09:00 in Tokyo tomorrow
    expect(scheduledAt({ localTime: '09:00' }, 'Asia/Tokyo', 'user_1', from)).toBe(base);
    const spread = { localTime: '09:00', spreadOver: '60m' };
    expect(scheduledAt(spread, 'Asia/Tokyo', 'user_1', from)).toBe(base + spreadOffset('user_1', 3_600_000));
  });

  it('gives two zones two instants for the same local time', () => {
    const tokyo = scheduledAt({ localTime: '09:00' }, 'Asia/Tokyo', 'u', from);
    const berlin = scheduledAt({ localTime: '09:00' }, 'Europe/Berlin', 'u', from);
    expect(new Date(tokyo).toISOString()).toBe('2026-12-02T00:00:00.000Z');
    expect(new Date(berlin).toISOString()).toBe('2026-12-02T08:00:00.000Z');
  });
});
