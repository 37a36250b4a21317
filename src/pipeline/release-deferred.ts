import { zoneFor } from '../policy/plan.ts';
import { type QuietState, quietEndsSooner } from '../policy/quiet-hours.ts';
import type { JobSignal } from '../queue/signal.ts';
import type { Store } from '../store/port.ts';
import { notifyLanes, sendJob } from './deps.ts';

/**
 * How far back held messages are looked for. Quiet hours hold a message until their window ends
 * (at most a day), so a week covers a message deferred again and again.
 */
const LOOKBACK_MS = 7 * 24 * 3600_000;
/** Held messages released per change; more wait for their own wake-up, as before the change. */
const RELEASE_MAX = 1_000;
/**
 * A subscriber's held messages are released at most this often (per process): each release
 * queues a job per message, and a window toggled back and forth (the hosted preference page is
 * open to whoever holds an email's link) must not queue thousands a minute.
 */
const RELEASE_EVERY_MS = 60_000;
/** Subscribers remembered for that; all forgotten at once beyond this. */
const RELEASES_REMEMBERED = 10_000;
const lastRelease = new Map<string, number>();

/** Whether the subscriber's held messages may be released now (and, if so, notes that they are). */
function mayRelease(tenantId: string, subscriberId: string, now: number): boolean {
  const key = `${tenantId}\u0000${subscriberId}`;
  const last = lastRelease.get(key);
  if (last !== undefined && now - last < RELEASE_EVERY_MS) return false;
  if (lastRelease.size >= RELEASES_REMEMBERED) lastRelease.clear();
  lastRelease.set(key, now);
  return true;
}

/**
 * A change of a subscriber's quiet hours (or zone) that ends them sooner (quietEndsSooner): each
 * held (`deferred`) message gets a send job due `at`, so the send decides again under the new
 * hours, exactly as at its own wake-up — it goes now, or is deferred again to the new end (in its
 * timeline). The job queued for the old end stays; it runs in the same partition (recipient,
 * channel, lane), one at a time with this one, and finds the message sent (nothing to do) or
 * decides again. Answers how many it released.
 */
export async function releaseDeferred(
  deps: { store: Pick<Store, 'deferredMessages' | 'enqueueJobs'>; signal: JobSignal },
  tenantId: string,
  subscriberId: string,
  at: number,
): Promise<number> {
  const held = await deps.store.deferredMessages(tenantId, subscriberId, at - LOOKBACK_MS, RELEASE_MAX);
  if (held.length === 0) return 0;
  const jobs = held.map((message) => sendJob(message, message.lane, at));
  await deps.store.enqueueJobs(jobs);
  notifyLanes(deps.signal, jobs);
  return held.length;
}

type QuietDeps = {
  store: Pick<
    Store,
    | 'deferredMessages'
    | 'enqueueJobs'
    | 'getPreferences'
    | 'getPreferencesFor'
    | 'getSubscriber'
    | 'getSubscribers'
    | 'getTenantSettings'
  >;
  signal: JobSignal;
  log: { warn(details: object, message: string): void };
};

/** A subscriber's quiet hours and zone; null when they have no quiet hours (one read, then). */
async function quietState(
  deps: QuietDeps,
  tenantId: string,
  subscriberId: string,
): Promise<QuietState | null> {
  const window = (await deps.store.getPreferences(tenantId, subscriberId))?.quietHours ?? null;
  if (!window) return null;
  const [subscriber, settings] = await Promise.all([
    deps.store.getSubscriber(tenantId, subscriberId),
    deps.store.getTenantSettings(tenantId),
  ]);
  return { window, zone: zoneFor(subscriber?.timezone ?? null, settings.defaultTimezone) };
}

const NOTHING_HELD = async () => {};

/**
 * Around a write that may change a subscriber's quiet hours or zone: reads their hours before it,
 * and answers what to call once it has committed — which releases their held messages when the
 * new hours end sooner (quietEndsSooner). A release that fails is logged, not thrown: the write
 * stands, and the held messages go at their old wake-up instead.
 */
export async function quietHoursChange(
  deps: QuietDeps,
  tenantId: string,
  subscriberId: string,
  /** Whether the write touches the hours or the zone at all (else nothing is read). */
  touches: boolean,
): Promise<() => Promise<void>> {
  if (!touches) return NOTHING_HELD;
  // Without quiet hours before the write, it held nothing: nothing to read after it either.
  const before = await quietState(deps, tenantId, subscriberId);
  if (!before) return NOTHING_HELD;
  return async () => {
    try {
      const now = Date.now();
      const after = (await quietState(deps, tenantId, subscriberId)) ?? { window: null, zone: before.zone };
      if (quietEndsSooner(before, after, now) && mayRelease(tenantId, subscriberId, now))
        await releaseDeferred(deps, tenantId, subscriberId, now);
    } catch (error) {
      deps.log.warn({ err: error, subscriberId }, 'held messages not released after a quiet hours change');
    }
  };
}

/**
 * quietHoursChange for a write of many subscribers' zones at once (POST /v1/subscribers/bulk):
 * one read of the subscribers' choices, and only those with quiet hours read further, before the
 * write and after it.
 */
export async function quietZonesChange(
  deps: QuietDeps,
  tenantId: string,
  /** The subscribers whose `timezone` the write sets. */
  subscriberIds: readonly string[],
): Promise<() => Promise<void>> {
  if (subscriberIds.length === 0) return NOTHING_HELD;
  const choices = await deps.store.getPreferencesFor(tenantId, [...subscriberIds]);
  const windows = new Map<string, NonNullable<QuietState['window']>>();
  for (const [id, choice] of choices) if (choice.quietHours) windows.set(id, choice.quietHours);
  if (windows.size === 0) return NOTHING_HELD;
  const zones = async () => {
    const [subscribers, settings] = await Promise.all([
      deps.store.getSubscribers(tenantId, [...windows.keys()]),
      deps.store.getTenantSettings(tenantId),
    ]);
    const byId = new Map(subscribers.map((s) => [s.id, s.timezone]));
    return (id: string) => zoneFor(byId.get(id) ?? null, settings.defaultTimezone);
  };
  const before = await zones();
  return async () => {
    try {
      const after = await zones();
      const now = Date.now();
      for (const [id, window] of windows) {
        const was = { window, zone: before(id) };
        const is = { window, zone: after(id) };
        if (quietEndsSooner(was, is, now) && mayRelease(tenantId, id, now))
          await releaseDeferred(deps, tenantId, id, now);
      }
    } catch (error) {
      deps.log.warn({ err: error }, 'held messages not released after a bulk change of time zones');
    }
  };
}
