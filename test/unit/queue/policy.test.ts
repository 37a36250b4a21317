import { describe, expect, it } from 'vitest';
import { SEND_BACKOFF } from '../../../src/pipeline/deps.ts';
import { retryDelay } from '../../../src/policy/backoff.ts';
import { laneQuotas, tenantCaps, workerCaps } from '../../../src/policy/lanes.ts';
import type { Lane } from '../../../src/shared/model.ts';

const idle = { critical: 0, high: 0, normal: 0, bulk: 0 };

describe('retryDelay (exponential backoff, full jitter)', () => {
  const options = { baseMs: 1000, capMs: 60_000 };
  it.each([
    [1, 0, 0],
    [1, 0.999, 999],
    [2, 0.5, 1000],
    [3, 0.5, 2000],
    [6, 0.999, 31_968],
    [7, 0.999, 59_940],
    [50, 0.999, 59_940],
    [5000, 0.5, 30_000],
  ])('attempt %i with random %f waits %i ms', (attempt, random, expected) => {
    expect(retryDelay(attempt, options, () => random)).toBe(expected);
  });

  it('stays within [0, min(cap, base·2^(n-1))) for any random draw', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const ceiling = Math.min(60_000, 1000 * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const delay = retryDelay(attempt, options);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceiling);
      }
    }
  });
});

describe("a send's backoff (API.md: from 1 s, doubling, to a 5 min cap)", () => {
  it('waits below 1 s after the first attempt, below 2 s after the second, and never 5 min or more', () => {
    expect(retryDelay(1, SEND_BACKOFF, () => 0.999)).toBe(999);
    expect(retryDelay(2, SEND_BACKOFF, () => 0.999)).toBe(1998);
    expect(retryDelay(9, SEND_BACKOFF, () => 0.999)).toBe(255_744);
    expect(retryDelay(10, SEND_BACKOFF, () => 0.999)).toBe(299_700);
    expect(retryDelay(40, SEND_BACKOFF, () => 0.999)).toBe(299_700);
  });
});

describe('laneQuotas (weighted fair claiming)', () => {
  const quotas = (inFlight: Record<Lane, number>, active: Lane[], concurrency = 100) =>
    laneQuotas({ concurrency, inFlight, active: new Set(active) });

  it('shares free slots by weight among lanes with work', () => {
    expect(quotas(idle, ['critical', 'high', 'normal', 'bulk'])).toEqual([
      { lane: 'critical', limit: 53 },
      { lane: 'high', limit: 27 },
      { lane: 'normal', limit: 13 },
      { lane: 'bulk', limit: 7 },
    ]);
  });

  it('never lets bulk hold more than half the slots', () => {
    expect(quotas(idle, ['bulk'])).toEqual([{ lane: 'bulk', limit: 50 }]);
    expect(quotas({ ...idle, bulk: 50 }, ['bulk'])).toEqual([]);
  });

  it('keeps room for critical even when lower lanes are at their caps', () => {
    const busy = { critical: 0, high: 0, normal: 25, bulk: 50 };
    expect(quotas(busy, ['critical'])).toEqual([{ lane: 'critical', limit: 25 }]);
  });

  it('claims nothing when every slot is taken', () => {
    expect(quotas({ critical: 100, high: 0, normal: 0, bulk: 0 }, ['critical', 'bulk'])).toEqual([]);
  });

  it('lets every lane use a slot of a one-slot worker', () => {
    expect(quotas(idle, ['bulk'], 1)).toEqual([{ lane: 'bulk', limit: 1 }]);
    expect(quotas({ ...idle, bulk: 1 }, ['critical'], 1)).toEqual([]);
  });

  it('gives every active lane at least one slot', () => {
    expect(quotas({ critical: 0, high: 0, normal: 0, bulk: 0 }, ['critical', 'bulk'], 2)).toEqual([
      { lane: 'critical', limit: 2 },
      { lane: 'bulk', limit: 1 },
    ]);
  });
});

describe('tenantCaps (no tenant holds the last quarter of a lane)', () => {
  // normal: 75 of 100 slots; a quarter is 18, three quarters 57.
  const caps = (inFlight: number, held: Record<string, number>) =>
    tenantCaps('normal', 100, inFlight, new Map(Object.entries(held)));

  it('lets a tenant take three quarters of an idle lane, and a newcomer its quarter however full the lane', () => {
    expect(caps(0, {})).toEqual({ fresh: 57, byTenant: {} });
    expect(caps(57, { a: 57 })).toEqual({ fresh: 18, byTenant: { a: 0 } });
    expect(caps(70, { a: 57, b: 13 })).toEqual({ fresh: 18, byTenant: { a: 0, b: 5 } });
  });

  it('lets anyone take what is left below three quarters', () => {
    expect(caps(30, { a: 20, b: 10 })).toEqual({ fresh: 27, byTenant: { a: 27, b: 27 } });
  });

  it('still gives every tenant a slot of a tiny lane', () => {
    expect(tenantCaps('bulk', 2, 1, new Map([['a', 1]]))).toEqual({ fresh: 1, byTenant: { a: 0 } });
  });
});

describe('workerCaps (no tenant holds the last quarter of the worker, whatever its lanes)', () => {
  it('lets a tenant take three quarters of the worker for normal and bulk work, less what it holds', () => {
    expect(workerCaps(256, new Map()).normal).toEqual({ fresh: 192, byTenant: {} });
    const held = new Map([
      ['a', 190],
      ['b', 10],
    ]);
    expect(workerCaps(256, held).bulk).toEqual({ fresh: 192, byTenant: { a: 2, b: 182 } });
    expect(workerCaps(16, new Map([['a', 13]])).normal).toEqual({ fresh: 12, byTenant: { a: 0 } });
  });

  it('lets high work go past that bound, and critical work past high work, to seven eighths', () => {
    const held = new Map([['a', 208]]);
    expect(workerCaps(256, held).high).toEqual({ fresh: 208, byTenant: { a: 0 } });
    expect(workerCaps(256, held).critical).toEqual({ fresh: 224, byTenant: { a: 16 } });
    expect(workerCaps(16, new Map([['a', 13]])).high).toEqual({ fresh: 13, byTenant: { a: 0 } });
    expect(workerCaps(16, new Map([['a', 13]])).critical).toEqual({ fresh: 14, byTenant: { a: 1 } });
  });

  it('still gives a tenant a slot of a tiny worker', () => {
    for (const caps of Object.values(workerCaps(1, new Map())))
      expect(caps).toEqual({ fresh: 1, byTenant: {} });
    expect(workerCaps(2, new Map([['a', 1]])).critical).toEqual({ fresh: 1, byTenant: { a: 0 } });
  });
});
