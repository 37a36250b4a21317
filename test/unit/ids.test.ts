import { describe, expect, it } from 'vitest';
import { idFloor, newId } from '../../src/shared/ids.ts';

describe('newId', () => {
  it('sorts ids made in one millisecond in the order they were made, still unguessable', () => {
    // Found by the API.md audit: a bulk request's events share a millisecond, and their ids (the
    // tie-break of "oldest first") sorted by chance, so a digest's `data` was a random event's.
    const ids = Array.from({ length: 1000 }, () => newId('evt', 1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // Consecutive ids differ by a random step, not by one.
    const steps = new Set(ids.slice(1).map((id, i) => id.slice(-8) === ids[i]!.slice(-8)));
    expect(steps.has(true)).toBe(false);
    // …and the steps vary (a counter's would all be 1): the last 16 characters read as a number.
    const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
    const value = (id: string) =>
      [...id.slice(-16)].reduce((n, c) => n * 32n + BigInt(ALPHABET.indexOf(c)), 0n);
    const differences = new Set(ids.slice(1).map((id, i) => value(id) - value(ids[i]!)));
    expect(differences.size).toBeGreaterThan(900);
    for (const id of ids) expect(id).toMatch(/^evt_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('still sorts by time across milliseconds, above the floor of its millisecond', () => {
    const early = newId('msg', 1_700_000_000_001);
    const later = newId('msg', 1_700_000_000_002);
    expect(early < later).toBe(true);
    expect(later >= idFloor('msg', 1_700_000_000_002)).toBe(true);
    expect(early < idFloor('msg', 1_700_000_000_002)).toBe(true);
  });
});
