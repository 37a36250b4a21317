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

/** The 16 random characters as an 80-bit number, and back. */
function charsToBig(chars: string): bigint {
  let value = 0n;
  for (const char of chars) value = value * 32n + BigInt(ALPHABET.indexOf(char));
  return value;
}
function bigToChars(value: bigint): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < 16; i++) {
    out = ALPHABET[Number(rest % 32n)] + out;
    rest /= 32n;
  }
  return out;
}
const RANDOM_SPACE = 32n ** 16n;

/** The last id's millisecond and random part, per prefix: ids of one millisecond keep their order. */
const last = new Map<string, { ms: number; random: bigint }>();

/**
 * A new identifier: prefix, 10 time characters (so ids sort by creation) and 16 random ones (80 bits).
 * Ids of one prefix made in the same millisecond by this process sort in the order they were made
 * (the second's random part is the first's plus a random step of up to 2^40, so it stays
 * unguessable): a bulk request's events, accepted in one millisecond, are oldest first in that
 * order — a digest's `events` and its first event's `data` follow the request, not chance.
 *
 * @example
 * newId('evt'); // "evt_01jd4k8r2x…"
 */
export function newId(prefix: string, now = Date.now()): string {
  const before = last.get(prefix);
  let random: bigint;
  if (before !== undefined && before.ms === now) {
    const step = charsToBig(randomChars(8)) + 1n;
    random = before.random + step;
    // Out of room in this millisecond (never in practice: 2^80 / 2^40 steps): start afresh.
    if (random >= RANDOM_SPACE) random = charsToBig(randomChars(16));
  } else {
    random = charsToBig(randomChars(16));
  }
  if (last.size >= 64 && before === undefined) last.clear();
  last.set(prefix, { ms: now, random });
  return `${prefix}_${timeChars(now)}${bigToChars(random)}`;
}

/**
 * The lowest id `newId(prefix, ms)` can make: every id made before `ms` sorts below it, so a
 * range of ids is a range of creation times (the retention sweep deletes by it).
 */
export function idFloor(prefix: string, ms: number): string {
  return `${prefix}_${timeChars(ms)}`;
}
