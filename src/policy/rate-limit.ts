import type { Channel, RateLimitRule } from '../shared/model.ts';
import { parseDuration } from '../shared/time.ts';

/**
 * Workflow rate limits (API.md workflow `rateLimit`), as pure decisions: which counters a
 * recipient's messages of one event take, and whether a batch of such takes fits. The counts
 * themselves live in the store (RateCounterStore), which runs `grantRateTakes` under its lock.
 *
 * Windows are fixed and aligned to their length from the epoch ("1h" = each whole UTC hour), so
 * every worker and process agrees on the window from the clock alone, and a counter is one row.
 * A burst straddling a boundary may therefore see up to twice the limit within one window length.
 */

/**
 * The longest window (366 days): a counter's expiry is an epoch-millisecond time both stores can
 * hold (a window of 10^20 days overflowed PostgreSQL's bigint and failed every delivery).
 */
export const RATE_WINDOW_MAX_MS = 366 * 86_400_000;

/** One rule of a workflow, its window parsed once per delivery batch. */
export interface RateLayer {
  per: RateLimitRule['per'];
  limit: number;
  windowMs: number;
  /** For the timeline: "rate limit per subscriber: 3 per 1h". */
  label: string;
}

/** The rules of a workflow that can count (a window of at least 1 ms); an empty list: no limits. */
export function rateLayers(rules: readonly RateLimitRule[] | undefined): RateLayer[] {
  if (!rules) return [];
  const layers: RateLayer[] = [];
  for (const rule of rules) {
    const windowMs = parseDuration(rule.window);
    // The API refuses such rules; one stored before those checks counts nothing rather than
    // dividing by zero or failing the delivery.
    if (windowMs === null || windowMs <= 0 || windowMs > RATE_WINDOW_MAX_MS || !(rule.limit >= 1)) continue;
    layers.push({
      per: rule.per,
      limit: rule.limit,
      windowMs,
      label: `rate limit per ${rule.per}: ${rule.limit} per ${rule.window}`,
    });
  }
  return layers;
}

/** When the fixed window holding `now` ends (epoch ms): the counter's expiry. */
export function windowEnd(now: number, windowMs: number): number {
  return Math.floor(now / windowMs) * windowMs + windowMs;
}

/**
 * The counter a layer names for one recipient (and channel, for `subscriber+channel`). Window
 * length and limit are part of it, so two rules never share a count; the window itself is not
 * (a counter row is reset when a new window starts, so it does not pile up one row per window).
 * U+001F (unit separator) joins the parts: ids and keys may hold no control character, and
 * PostgreSQL text may hold no NUL.
 */
export function counterScope(
  layer: RateLayer,
  workflowKey: string,
  subscriberId: string,
  channel: Channel | null,
): string {
  return scopeOfRule(layer.per, ruleScope(layer, workflowKey), subscriberId, channel);
}

/** The part of a counter's scope every recipient of a layer shares: computed once per batch. */
export function ruleScope(layer: RateLayer, workflowKey: string): string {
  return `${workflowKey}\u001f${layer.per}\u001f${layer.windowMs}\u001f${layer.limit}`;
}

/** counterScope, from the rule's part (ruleScope) already built. */
export function scopeOfRule(
  per: RateLayer['per'],
  rule: string,
  subscriberId: string,
  channel: Channel | null,
): string {
  if (per === 'tenant') return rule;
  if (per === 'subscriber') return `${rule}\u001f${subscriberId}`;
  return `${rule}\u001f${subscriberId}\u001f${channel}`;
}

/** A counter a take may use: its limit and the end of its current window. */
export interface RateCounterRef {
  scope: string;
  limit: number;
  windowEnd: number;
}

/**
 * What one recipient's messages of one event take: `shared` counters (layers `subscriber` and
 * `tenant`: one per recipient per event, whatever the number of channels) and, per message,
 * its own counters (`subscriber+channel`). Numbers index the request's counter list.
 */
export interface RateTake {
  shared: readonly number[];
  parts: readonly (readonly number[])[];
}

/** Granted: the message may go out. */
export const GRANTED = -1;

/** Per part of a take, GRANTED or the index of the counter that was full. Read only: answers may be shared. */
export type RateAnswer = readonly number[];

const ONE_GRANTED: RateAnswer = Object.freeze([GRANTED]);

function fits(counts: readonly number[], limits: readonly number[], counters: readonly number[]): boolean {
  for (const counter of counters) if (counts[counter]! >= limits[counter]!) return false;
  return true;
}

/**
 * Decides a batch of takes in order against `counts` (the counters' current values, updated in
 * place) and answers, per take and part, GRANTED or the index of the counter that was full.
 *
 * A part is granted when every shared counter and every counter of its own has room. Counters
 * only count what goes out: a part's own counters when it is granted, the shared ones once when
 * any part of the take is — a recipient whose every channel was refused is not counted against
 * the subscriber or tenant layer.
 */
export function grantRateTakes(
  counts: number[],
  limits: readonly number[],
  takes: readonly RateTake[],
): RateAnswer[] {
  const answers: RateAnswer[] = [];
  for (const take of takes) {
    let sharedFull = GRANTED;
    for (const counter of take.shared) {
      if (counts[counter]! >= limits[counter]!) {
        sharedFull = counter;
        break;
      }
    }
    if (sharedFull === GRANTED && take.parts.length === 1 && fits(counts, limits, take.parts[0]!)) {
      // The common take, one part and room everywhere: a shared answer rather than a new one.
      for (const counter of take.parts[0]!) counts[counter]!++;
      for (const counter of take.shared) counts[counter]!++;
      answers.push(ONE_GRANTED);
      continue;
    }
    const answer: number[] = [];
    let anyGranted = false;
    for (const part of take.parts) {
      let full = sharedFull;
      if (full === GRANTED) {
        for (const counter of part) {
          if (counts[counter]! >= limits[counter]!) {
            full = counter;
            break;
          }
        }
      }
      if (full === GRANTED) {
        for (const counter of part) counts[counter]!++;
        anyGranted = true;
      }
      answer.push(full);
    }
    if (anyGranted) for (const counter of take.shared) counts[counter]!++;
    answers.push(answer);
  }
  return answers;
}
