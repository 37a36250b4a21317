import { afterEach, describe, expect, it } from 'vitest';
import { shiftClockForward } from '../helpers/shifted-clock.ts';

const HOUR = 3_600_000;
let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

describe('shiftClockForward (test helper)', () => {
  it('moves Date.now() and new Date() ahead, keeps running, and leaves explicit dates alone', async () => {
    const RealDate = Date;
    const before = RealDate.now();
    restore = shiftClockForward(HOUR);
    const shifted = Date.now();
    expect(shifted - before).toBeGreaterThanOrEqual(HOUR);
    expect(shifted - before).toBeLessThan(HOUR + 1_000);
    const made = new Date();
    expect(Date.parse(made.toISOString()) - RealDate.now()).toBeGreaterThanOrEqual(HOUR - 5);
    expect(new Date(0).toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(new Date(2026, 0, 2).getDate()).toBe(2);
    expect(Date.parse('2026-01-01T00:00:00Z')).toBe(1_767_225_600_000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(Date.now() - shifted).toBeGreaterThanOrEqual(25);
    // A date made by the real constructor is still a Date to code that checks.
    expect(new RealDate(0) instanceof Date).toBe(true);
    expect(new Date(0) instanceof RealDate).toBe(true);
  });

  it('puts the real clock back, and refuses to go backwards', () => {
    const RealDate = Date;
    shiftClockForward(HOUR)();
    expect(Date).toBe(RealDate);
    expect(Math.abs(Date.now() - RealDate.now())).toBeLessThan(5);
    expect(() => shiftClockForward(-1)).toThrow(/only moves forward/);
    expect(Date).toBe(RealDate);
  });
});
