import { iso, parseDuration } from '../shared/time.ts';

/**
 * Digests (API.md "Workflows"): a workflow with `"digest": {"window", "key"}` gathers a
 * subscriber's events with one rendered key for `window` after the first of them, then sends one
 * message whose templates see them all. These are the pure parts: the window's bounds, the key as
 * stored, how a joined event is described, and what the close's templates see.
 */

/** The shortest and longest digest window: under a second is no digest, past a week no one waits. */
export const DIGEST_WINDOW_MIN_MS = 1000;
export const DIGEST_WINDOW_MAX_MS = 7 * 86_400_000;

/**
 * Most entries of `events` the close's templates see: a window that gathered thousands of events
 * would otherwise hand every render (and the rows it reads) all of them. `count` stays exact.
 */
export const DIGEST_EVENTS_IN_SCOPE = 100;

/** A digest window in ms, or null when it is not a duration from 1 s to 7 d. */
export function digestWindowMs(window: string): number | null {
  const ms = parseDuration(window);
  if (ms === null || ms < DIGEST_WINDOW_MIN_MS || ms > DIGEST_WINDOW_MAX_MS) return null;
  return ms;
}

/**
 * The key a rendered `digest.key` is stored under: its keyed hash (`personal`: the store's
 * PersonalData), so the database never holds what the key renders — often an address or a name —
 * and a key of any length takes a fixed-size index entry. Equal renders give equal keys; the
 * empty key (no key, or one that renders empty) stays empty.
 */
export function storedDigestKey(rendered: string, personal: KeyedHash): string {
  return rendered === '' ? '' : `k:${personal.hash('digest-key', rendered)}`;
}

/** What storedDigestKey needs of PersonalData. */
export interface KeyedHash {
  hash(purpose: string, value: string): string;
}

/** The event view's word for a step an event did not get on its own: it went into a digest. */
export function digestJoinReason(closesAt: number): string {
  return `digest: gathered into the digest closing at ${iso(closesAt)}`;
}

/** One event of a closing digest, as its templates see it. */
export interface DigestEvent {
  id: string;
  createdAt: number;
  data: Record<string, unknown>;
}

/** What a digest's templates see beside `subscriber` and `actor`. */
export interface DigestScope {
  /** Events gathered (cancelled ones left out), exact. */
  count: number;
  /** Each event's data, oldest first, at most DIGEST_EVENTS_IN_SCOPE. */
  events: Record<string, unknown>[];
}

/** Oldest first by event time; events of the same millisecond by id, so every run agrees. */
export function oldestFirst<T extends { id: string; createdAt: number }>(events: readonly T[]): T[] {
  return [...events].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The scope of a digest's close over its live events, already oldest first: `count` of them, of
 * which `events` holds at least the oldest DIGEST_EVENTS_IN_SCOPE (all of them by default).
 */
export function digestScope(events: readonly DigestEvent[], count = events.length): DigestScope {
  return {
    count,
    events: events.slice(0, DIGEST_EVENTS_IN_SCOPE).map((event) => event.data),
  };
}

/**
 * A close's live events taken a chunk at a time: how many, and the oldest
 * DIGEST_EVENTS_IN_SCOPE of them kept, oldest first. Only those reach the templates, so a digest
 * of ten thousand large events never holds them all at once.
 */
export class OldestEvents<T extends { id: string; createdAt: number }> {
  count = 0;
  oldest: T[] = [];

  add(events: readonly T[]): void {
    this.count += events.length;
    this.oldest = oldestFirst([...this.oldest, ...events]).slice(0, DIGEST_EVENTS_IN_SCOPE);
  }
}
