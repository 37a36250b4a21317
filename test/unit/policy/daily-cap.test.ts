import { describe, expect, it } from 'vitest';
import { countsAgainstDailyCap, dailyCapLayer, dailyCapScope } from '../../../src/policy/daily-cap.ts';
import { nextLocalMidnight } from '../../../src/policy/quiet-hours.ts';
import { counterScope, rateLayers } from '../../../src/policy/rate-limit.ts';

const at = (text: string) => Date.parse(text);

describe('nextLocalMidnight', () => {
  it.each([
    ['UTC', '2026-06-01T12:00:00Z', '2026-06-02T00:00:00Z'],
    ['Asia/Tokyo', '2026-12-01T12:00:00Z', '2026-12-01T15:00:00Z'],
    // At midnight exactly a new day has begun: it ends at the next one.
    ['Asia/Tokyo', '2026-12-01T15:00:00Z', '2026-12-02T15:00:00Z'],
    // Spring forward: the day has 23 hours, and ends at midnight summer time.
    ['Europe/Berlin', '2026-03-29T12:00:00Z', '2026-03-29T22:00:00Z'],
    ['America/Los_Angeles', '2026-03-08T12:00:00Z', '2026-03-09T07:00:00Z'],
    // Fall back: the day has 25 hours, and ends at midnight winter time.
    ['Europe/Berlin', '2026-10-25T12:00:00Z', '2026-10-25T23:00:00Z'],
    ['America/Los_Angeles', '2026-11-01T12:00:00Z', '2026-11-02T08:00:00Z'],
    // Santiago skips midnight (00:00 → 01:00): the day ends where the clock jumps.
    ['America/Santiago', '2025-09-06T12:00:00Z', '2025-09-07T04:00:00Z'],
    // Santiago turns back at midnight (00:00 → 23:00): the clock first shows 00:00 an hour later.
    ['America/Santiago', '2025-04-06T02:00:00Z', '2025-04-06T04:00:00Z'],
    ['America/Santiago', '2025-04-06T03:30:00Z', '2025-04-06T04:00:00Z'],
  ])('in %s at %s the day ends at %s', (zone, now, end) => {
    expect(new Date(nextLocalMidnight(zone, at(now))).toISOString()).toBe(new Date(at(end)).toISOString());
  });

  it('throws for a zone Intl does not know', () => {
    expect(() => nextLocalMidnight('Mars/Olympus', 0)).toThrow(RangeError);
  });
});

describe('dailyCapLayer', () => {
  it('is null without a cap, or with one that could cap nothing sensibly', () => {
    expect(dailyCapLayer(null, 'UTC', 0)).toBeNull();
    expect(dailyCapLayer({ perSubscriber: 0 }, 'UTC', 0)).toBeNull();
  });

  it("counts the tenant's day in its default zone and labels the layer for the timeline", () => {
    expect(dailyCapLayer({ perSubscriber: 20 }, 'Asia/Tokyo', at('2026-12-01T12:00:00Z'))).toEqual({
      limit: 20,
      windowEnd: at('2026-12-01T15:00:00Z'),
      label: 'daily cap per subscriber: 20 per day',
    });
  });

  it('counts UTC days when the zone is unknown, rather than stopping delivery', () => {
    expect(dailyCapLayer({ perSubscriber: 5 }, 'Mars/Olympus', at('2026-12-01T12:00:00Z'))?.windowEnd).toBe(
      at('2026-12-02T00:00:00Z'),
    );
  });
});

describe('countsAgainstDailyCap', () => {
  it.each([
    ['security', false],
    ['transactional', false],
    ['marketing', true],
    [null, true],
    [undefined, true],
  ])('category %s counts: %s', (category, counts) => {
    expect(countsAgainstDailyCap(category)).toBe(counts);
  });
});

describe('dailyCapScope', () => {
  it('is one per subscriber and never a workflow rate-limit scope', () => {
    expect(dailyCapScope('u1')).not.toBe(dailyCapScope('u2'));
    // A workflow named like the cap's parts still names another counter.
    const [layer] = rateLayers([{ per: 'subscriber', limit: 2, window: '1d' }]);
    expect(counterScope(layer!, 'daily-cap', 'u1', null)).not.toBe(dailyCapScope('u1'));
    expect(dailyCapScope('u1').startsWith('\u001f')).toBe(true);
  });
});
