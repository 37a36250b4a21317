import { scheduledAt } from '../policy/local-schedule.ts';
import { zoneFor } from '../policy/plan.ts';
import type { EventRecord, SubscriberRecord, TimelineEntry } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { DeliveryTarget } from './deliver.ts';

/**
 * Local-time schedules in the pipeline. An event with `schedule` is fanned out like any other;
 * its first delivery of each page of recipients builds no message but splits the page by when
 * each recipient is due (policy/local-schedule.ts) and queues one `deliver` job per instant,
 * carrying `at`. That job builds the messages normally when it runs, so preferences, quiet hours,
 * caps and the workflow's pause apply at the scheduled moment, and a cancelled event's jobs find
 * it cancelled and make nothing (loadTargets).
 */

/**
 * Where a scheduled event's clock starts: its `sendAt` when it has one (the schedule then means
 * "the next local time at or after sendAt"), else when it was accepted — never the moment a
 * worker got to it, so a busy queue does not push a 09:00 delivery to tomorrow.
 */
export function scheduleStart(event: EventRecord): number {
  const sendAt = event.payload.sendAt === undefined ? Number.NaN : Date.parse(event.payload.sendAt);
  return Number.isNaN(sendAt) ? event.createdAt : Math.max(sendAt, event.createdAt);
}

/** A target whose event has a schedule that has not yet been split into its instants. */
export function awaitsSchedule(target: DeliveryTarget): boolean {
  return target.event.payload.schedule !== undefined && target.at === undefined;
}

/**
 * Splits `target` (its recipients loaded as `subscribers`; an erased one is gone) into one target
 * per instant its recipients are due, in time order. Recipients without a zone of their own are
 * read in `defaultTimezone` (the tenant's). Offsets are whole seconds, so one page makes at most
 * one job per distinct second.
 */
export function splitBySchedule(
  target: DeliveryTarget,
  subscribers: SubscriberRecord[],
  defaultTimezone: string,
): { target: DeliveryTarget; subscribers: SubscriberRecord[] }[] {
  const schedule = target.event.payload.schedule!;
  const from = scheduleStart(target.event);
  const byInstant = new Map<number, SubscriberRecord[]>();
  for (const subscriber of subscribers) {
    const zone = zoneFor(subscriber.timezone, defaultTimezone);
    const at = scheduledAt(schedule, zone, subscriber.id, from);
    const group = byInstant.get(at);
    if (group) group.push(subscriber);
    else byInstant.set(at, [subscriber]);
  }
  return [...byInstant.entries()]
    .sort(([a], [b]) => a - b)
    .map(([at, group]) => ({
      target: { ...target, subscriberIds: group.map((s) => s.id), at },
      subscribers: group,
    }));
}

/** The timeline entry of a message built by a scheduled delivery: when it was due, and why. */
export function scheduledEntry(event: EventRecord, at: number): TimelineEntry {
  const schedule = event.payload.schedule;
  const what = schedule
    ? `${schedule.localTime} in the recipient's time zone${schedule.spreadOver ? `, spread over ${schedule.spreadOver}` : ''}`
    : 'a local-time schedule';
  return { at: iso(at), status: 'scheduled', detail: `delivery scheduled for ${what}` };
}
