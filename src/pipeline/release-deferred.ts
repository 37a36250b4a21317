import { zoneFor } from '../policy/plan.ts';
import { isTimeZone, type QuietState, quietEndsSooner } from '../policy/quiet-hours.ts';
import { ACKED, DONE, type JobHandler, type JobResult, retryAfterError } from '../queue/handler.ts';
import type { JobSignal } from '../queue/signal.ts';
import type { Job, JobSpec, Store } from '../store/port.ts';
import { notifyLanes, sendJob } from './deps.ts';

/**
 * How far back held messages are looked for. Quiet hours hold a message until their window ends
 * (at most a day), so a week covers a message deferred again and again.
 */
const LOOKBACK_MS = 7 * 24 * 3600_000;
/** Held messages released per change; more wait for their own wake-up, as before the change. */
const RELEASE_MAX = 1_000;
/**
 * A subscriber's held messages are released at most RELEASES_PER_WINDOW times a minute per
 * process: each release queues a send job per held message, and each send that finds the window
 * still holding appends a `deferred` entry to its message's timeline; a window toggled back and
 * forth (the hosted preference page is open to whoever holds an email's link) must not queue
 * thousands of jobs, or grow a timeline by thousands of entries, a minute. Only releases that
 * find something held count — a change that finds nothing spends nothing, and a subscriber who
 * changes their hours a few times sees each change take effect at once. A change past that is
 * not dropped: a durable job (RELEASE_JOB) releases what is held when the minute is over.
 */
const RELEASE_WINDOW_MS = 60_000;
const RELEASES_PER_WINDOW = 3;
/** Subscribers (and tenants) remembered for that; all forgotten at once beyond this. */
const RELEASES_REMEMBERED = 10_000;

/** A subscriber's minute: from when, and how many releases it made (or promised to a put-off job). */
interface Allowance {
  from: number;
  used: number;
}
const allowances = new Map<string, Allowance>();

/** The job kind that releases one subscriber's held messages a throttled change put off. */
export const RELEASE_JOB = 'release-deferred';
/** The job kind that follows a change of the tenant's default zone (releaseForDefaultZone). */
export const RELEASE_ZONE_JOB = 'release-default-zone';

interface ReleasePayload {
  subscriberId: string;
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

/**
 * releaseDeferred within the subscriber's allowance (RELEASES_PER_WINDOW a minute, per process):
 * released now while the minute has room; past that, by a durable job at the end of the minute
 * (one job a minute at most, and only when something is held). That job's release counts as the
 * next minute's whole allowance, so the rate stays bounded however often the hours change.
 */
async function releaseWithin(
  deps: { store: Pick<Store, 'deferredMessages' | 'enqueueJobs'>; signal: JobSignal },
  tenantId: string,
  subscriberId: string,
  now: number,
): Promise<void> {
  const key = `${tenantId}\u0000${subscriberId}`;
  let allowance = allowances.get(key);
  if (!allowance || now - allowance.from >= RELEASE_WINDOW_MS) {
    if (allowances.size >= RELEASES_REMEMBERED) allowances.clear();
    allowance = { from: now, used: 0 };
    allowances.set(key, allowance);
  }
  // A job put off to `from` (still ahead) will decide on what is held then, this change included.
  if (allowance.from > now) return;
  if (allowance.used < RELEASES_PER_WINDOW) {
    // Counted before the read, so concurrent changes do not both take the last release.
    allowance.used++;
    let released = 0;
    try {
      released = await releaseDeferred(deps, tenantId, subscriberId, now);
    } finally {
      if (released === 0) allowance.used--;
    }
    return;
  }
  const at = allowance.from + RELEASE_WINDOW_MS;
  // Promised before any await, so changes meanwhile leave it to this one job (one a minute however
  // many come at once); taken back, unless something newer replaced it, if no job is queued.
  const promised: Allowance = { from: at, used: RELEASES_PER_WINDOW };
  allowances.set(key, promised);
  const takeBack = () => {
    if (allowances.get(key) === promised) allowances.set(key, allowance);
  };
  try {
    if ((await deps.store.deferredMessages(tenantId, subscriberId, now - LOOKBACK_MS, 1)).length === 0) {
      takeBack();
      return;
    }
    await deps.store.enqueueJobs([
      {
        tenantId,
        kind: RELEASE_JOB,
        lane: 'normal',
        partitionKey: `${tenantId}:${subscriberId}:release`,
        payload: { subscriberId } satisfies ReleasePayload,
        runAt: at,
      },
    ]);
  } catch (error) {
    takeBack();
    throw error;
  }
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
      if (quietEndsSooner(before, after, now)) await releaseWithin(deps, tenantId, subscriberId, now);
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
        if (quietEndsSooner(was, is, now)) await releaseWithin(deps, tenantId, id, now);
      }
    } catch (error) {
      deps.log.warn({ err: error }, 'held messages not released after a bulk change of time zones');
    }
  };
}

/** Rows of choices one page of a default-zone release reads (Store.quietHoursPage). */
const ZONE_PAGE = 500;
/** Pages per run of a default-zone release; then the job queues itself to go on from there. */
const ZONE_PAGES_PER_RUN = 20;
/** When each tenant's last default-zone release was queued (or is due), per process. */
const zoneReleases = new Map<string, number>();

/**
 * What a default-zone release carries from run to run: the change it follows (the zones before and
 * after it), and how far it got. `from` null: a release put off by the throttle, which releases
 * what every subscriber without a zone holds (each send decides again under the hours of then).
 */
interface ZonePayload {
  from: string | null;
  to: string | null;
  after: string | null;
}

function zoneJob(tenantId: string, payload: ZonePayload, runAt?: number): JobSpec {
  return {
    tenantId,
    kind: RELEASE_ZONE_JOB,
    lane: 'normal',
    // One tenant's releases take turns.
    partitionKey: `${tenantId}:default-zone`,
    payload,
    ...(runAt === undefined ? {} : { runAt }),
  };
}

/**
 * After the tenant's `defaultTimezone` changed from `from` to `to` (PATCH /v1/settings): the quiet
 * hours of every subscriber without a zone of their own moved, so what they held may go sooner.
 * A tenant may have millions of subscribers, so a durable job (RELEASE_ZONE_JOB) pages through
 * the ones with quiet hours and releases, as quietHoursChange does, the held messages of those
 * whose hours now end sooner. At most one such job a minute per tenant and process: a change
 * within the minute is followed by one job when it is over, which releases what every subscriber
 * without a zone holds (the zones changed more than once: each send decides again).
 */
export async function defaultZoneChange(
  deps: { store: Pick<Store, 'enqueueJobs'>; signal: JobSignal },
  tenantId: string,
  from: string,
  to: string,
  now: number,
): Promise<void> {
  if (zoneFor(null, from) === zoneFor(null, to)) return;
  const last = zoneReleases.get(tenantId);
  if (zoneReleases.size >= RELEASES_REMEMBERED) zoneReleases.clear();
  let job: JobSpec;
  if (last === undefined || now - last >= RELEASE_WINDOW_MS) {
    zoneReleases.set(tenantId, now);
    job = zoneJob(tenantId, { from, to, after: null });
  } else if (last > now) {
    return; // a put-off release is due then, and follows this change too
  } else {
    const at = last + RELEASE_WINDOW_MS;
    zoneReleases.set(tenantId, at);
    job = zoneJob(tenantId, { from: null, to: null, after: null }, at);
  }
  const promised = zoneReleases.get(tenantId);
  try {
    await deps.store.enqueueJobs([job]);
  } catch (error) {
    // Not queued: the next change queues its own rather than counting on this one (unless a
    // newer change already replaced what this one promised).
    if (zoneReleases.get(tenantId) === promised) {
      if (last === undefined) zoneReleases.delete(tenantId);
      else zoneReleases.set(tenantId, last);
    }
    throw error;
  }
  notifyLanes(deps.signal, [job]);
}

type ReleaseDeps = {
  store: Pick<Store, 'completeJobs' | 'deferredMessages' | 'enqueueJobs' | 'quietHoursPage'>;
  signal: JobSignal;
};

/** One page of a default-zone release; answers where the next starts (null after the last). */
async function releaseZonePage(
  deps: ReleaseDeps,
  tenantId: string,
  payload: ZonePayload,
  now: number,
): Promise<string | null> {
  const page = await deps.store.quietHoursPage(tenantId, payload.after, ZONE_PAGE);
  for (const { subscriberId, quietHours: window, timezone } of page.subscribers) {
    if (timezone && isTimeZone(timezone)) continue; // their own zone: the default is not theirs
    const sooner =
      payload.from === null ||
      payload.to === null ||
      quietEndsSooner(
        { window, zone: zoneFor(null, payload.from) },
        { window, zone: zoneFor(null, payload.to) },
        now,
      );
    if (sooner) await releaseDeferred(deps, tenantId, subscriberId, now);
  }
  return page.next;
}

/** The handlers of RELEASE_JOB and RELEASE_ZONE_JOB. */
export function releaseHandlers(deps: ReleaseDeps, clock: () => number = Date.now): JobHandler[] {
  const releaseOne = async (job: Job): Promise<JobResult> => {
    try {
      await releaseDeferred(deps, job.tenantId, (job.payload as ReleasePayload).subscriberId, clock());
      return DONE;
    } catch (error) {
      return retryAfterError(error);
    }
  };
  const releaseZone = async (job: Job, owner: string): Promise<JobResult> => {
    let payload = job.payload as ZonePayload;
    try {
      for (let page = 0; page < ZONE_PAGES_PER_RUN; page++) {
        const after = await releaseZonePage(deps, job.tenantId, payload, clock());
        if (after === null) return DONE;
        payload = { ...payload, after };
        // Other work gets the event loop (and the SQLite writer) between pages.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await deps.store.completeJobs(owner, [job.id], [zoneJob(job.tenantId, payload)]);
      return ACKED;
    } catch (error) {
      return retryAfterError(error);
    }
  };
  return [
    {
      kind: RELEASE_JOB,
      batchSize: 16,
      run: (jobs) => Promise.all(jobs.map(releaseOne)),
    },
    {
      kind: RELEASE_ZONE_JOB,
      batchSize: 1,
      async run(jobs, context) {
        const results: JobResult[] = [];
        for (const job of jobs) results.push(await releaseZone(job, context.owner));
        return results;
      },
    },
  ];
}
