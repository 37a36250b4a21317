import { randomBytes } from 'node:crypto';

// Crockford base32: sortable, case-insensitive, no ambiguous letters.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

function randomChars(count: number): string {
  if (offset + count > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  let out = '';
  for (let i = 0; i < count; i++) out += ALPHABET[pool[offset++]! & 31];
  return out;
}

function timeChars(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/**
 * A new identifier: prefix, 10 time characters (so ids sort by creation) and 16 random ones (80 bits).
 *
 * @example
 * newId('evt'); // "evt_01jd4k8r2x…"
 */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${timeChars(now)}${randomChars(16)}`;
}

/**
 * The lowest id `newId(prefix, ms)` can make: every id made before `ms` sorts below it, so a
 * range of ids is a range of creation times (the retention sweep deletes by it).
 */
export function idFloor(prefix: string, ms: number): string {
  return `${prefix}_${timeChars(ms)}`;
}
