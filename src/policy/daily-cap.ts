import type { DailyCap } from '../shared/model.ts';
import { MANDATORY_CATEGORIES } from '../shared/model.ts';
import { isTimeZone, nextLocalMidnight } from './quiet-hours.ts';

/**
 * The tenant's daily cap per subscriber (API.md settings `dailyCap`), as pure decisions: which
 * workflows it counts, and the counter one subscriber's notifications take. The counting itself
 * rides on the workflow rate-limit counters (RateCounterStore): the cap is one more shared
 * counter in a recipient's take, so one store call per tenant per batch decides both.
 *
 * "Per day" is the tenant's day: from midnight to midnight in its `defaultTimezone` (UTC unless
 * set), one window for all its subscribers, so a single counter end per tenant and batch is
 * computed and the counter resets at a moment the tenant can name.
 */

/** The cap as one batch of a tenant applies it: a counter end computed once per batch. */
export interface DailyCapLayer {
  limit: number;
  /** When the tenant's current day ends (epoch ms): the counter's window end. */
  windowEnd: number;
  /** For the timeline: "daily cap per subscriber: 20 per day". */
  label: string;
}

/** The tenant's cap as of `now`, or null when it has none (then nothing is counted). */
export function dailyCapLayer(cap: DailyCap | null, timeZone: string, now: number): DailyCapLayer | null {
  // The API refuses a cap below 1; one stored otherwise caps nothing rather than refusing everything.
  if (!cap || !(cap.perSubscriber >= 1)) return null;
  // A zone Intl does not know (an older tzdata) counts UTC days rather than stopping delivery.
  const zone = isTimeZone(timeZone) ? timeZone : 'UTC';
  return {
    limit: cap.perSubscriber,
    windowEnd: nextLocalMidnight(zone, now),
    label: `daily cap per subscriber: ${cap.perSubscriber} per day`,
  };
}

/** Whether a workflow's notifications count against (and may be held back by) the daily cap. */
export function countsAgainstDailyCap(category: string | null | undefined): boolean {
  return !(category && MANDATORY_CATEGORIES.has(category));
}

/**
 * The daily-cap counter scope of one subscriber. It starts with an empty part (U+001F first), which no
 * workflow rate-limit scope does (a workflow key is never empty), so the two never share a count.
 * The limit is not part of it: raising the cap during the day lets through only the difference.
 */
export function dailyCapScope(subscriberId: string): string {
  return `\u001fdaily-cap\u001f${subscriberId}`;
}
