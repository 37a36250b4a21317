import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextLocalTime, spreadOffset } from '../../src/policy/local-schedule.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { shiftClockForward } from '../helpers/shifted-clock.ts';
import { type QueuedJob, queuedJobs } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let server: TestServer;
let restoreClock: (() => void) | null = null;

beforeAll(async () => {
  // Workers on this thread: the clock the test moves ahead (see below) is this thread's, and a
  // worker thread would keep its own.
  server = await startTestServer({ TIDINGS_WORKER_THREADS: '0' });
  const workflow = { channels: [{ channel: 'in_app', template: { title: 'Morning {{ data.n }}' } }] };
  expect((await server.call('PUT', '/v1/workflows/morning', workflow)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
  restoreClock?.();
});

const NEW_YORK = 'America/New_York';
const KOLKATA = 'Asia/Kolkata';
const MINUTE = 60_000;

/** `HH:MM` on the wall clock of `zone` at `instant`. */
function clockIn(zone: string, instant: number): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(instant);
}

const iso = (ms: number) => new Date(ms).toISOString();

async function accepted(body: unknown): Promise<string> {
  const res = await server.call('POST', '/v1/events', body);
  expect(res.status).toBe(202);
  return res.body.eventId;
}

const eventView = async (eventId: string): Promise<Json> =>
  (await server.call('GET', `/v1/events/${eventId}`)).body;

/** The deliver jobs queued for `eventId` by its schedule (they carry `at`). */
async function scheduledJobs(eventId: string): Promise<QueuedJob[]> {
  return (await queuedJobs(server.databaseUrl, 'deliver')).filter(
    (job) => job.payload.eventId === eventId && job.payload.at !== undefined,
  );
}

/** Waits until the event's recipients have been split into `count` scheduled jobs; answers them. */
async function splitInto(eventId: string, count: number): Promise<QueuedJob[]> {
  const jobs = await waitFor(async () => {
    const queued = await scheduledJobs(eventId);
    return queued.length === count ? queued : null;
  }, `${count} scheduled deliver jobs of ${eventId}`);
  return jobs!;
}

/** Per subscriber: the job's run time, and the recipients it carries. */
const runTimes = (jobs: QueuedJob[]) =>
  Object.fromEntries(
    jobs.flatMap((job) => (job.payload.subscriberIds as string[]).map((id) => [id, iso(job.runAt)])),
  );

/** The event's view once it has `count` messages. */
function withMessages(eventId: string, count: number, timeoutMs = 80_000): Promise<Json> {
  return waitFor(
    async () => {
      const view = await eventView(eventId);
      return view.messages?.length === count ? view : null;
    },
    `${count} messages of ${eventId}`,
    timeoutMs,
    50,
  );
}

/** Checks a message built by a schedule: due at `due`, and not built a moment before it. */
function expectBuiltAt(message: Json, due: number): void {
  expect(message.status).toBe('delivered');
  expect(message.timeline.map((entry: Json) => entry.status)).toEqual([
    'accepted',
    'scheduled',
    'routed',
    'rendered',
    'delivered',
  ]);
  expect(message.timeline[1].at).toBe(iso(due));
  expect(Date.parse(message.timeline[2].at)).toBeGreaterThanOrEqual(due);
}

describe('schedule: delivery at a local time on each recipient’s clock', () => {
  it('holds every delivery until its recipient’s local time (own zone, else the tenant’s), spreads, ' +
    'works through topics and bulk, and a cancelled schedule (by id, by key) sends nothing', {
    timeout: 150_000,
  }, async () => {
    // Recipients without a zone are read in the tenant's, which matches New York all year.
    const settings = await server.call('PATCH', '/v1/settings', { defaultTimezone: 'America/Toronto' });
    expect(settings.status).toBe(200);
    await server.call('PUT', '/v1/subscribers/bird_1', { timezone: NEW_YORK });
    await server.call('PUT', '/v1/subscribers/bird_2', {});
    await server.call('PUT', '/v1/topics/early-birds', {});
    await server.call('POST', '/v1/topics/early-birds/subscribers', { subscriberIds: ['bird_1', 'bird_2'] });
    // Ids whose places in a 5-second spread differ (the offset is a stable hash of the id).
    const spreadIds = ['spread_0', 'spread_1', 'spread_2', 'spread_3', 'spread_4'];
    const bySpread = [...spreadIds].sort((a, b) => spreadOffset(a, 5000) - spreadOffset(b, 5000));
    const [early, late] = [bySpread[0], bySpread.at(-1)];
    expect(spreadOffset(early!, 5000)).toBeLessThan(spreadOffset(late!, 5000));

    // A whole minute LEAD ms away (time to accept and split everything before it): New York's
    // clock shows `localTime` then. The server runs in this process, so its clock is moved ahead
    // to LEAD before that minute rather than waiting up to a minute more for it.
    const LEAD = 15_000;
    const due = Math.ceil((Date.now() + LEAD) / MINUTE) * MINUTE;
    restoreClock = shiftClockForward(Math.max(0, due - LEAD - Date.now()));
    const schedule = { localTime: clockIn(NEW_YORK, due) };

    const direct = await accepted({
      workflow: 'morning',
      to: [
        { subscriberId: 'ny_1', timezone: NEW_YORK },
        { subscriberId: 'in_1', timezone: KOLKATA },
        'nozone_1',
      ],
      data: { n: 1 },
      schedule,
    });
    const topic = await accepted({
      workflow: 'morning',
      to: [{ topic: 'early-birds' }],
      data: { n: 2 },
      schedule,
    });
    const bulk = await server.call('POST', '/v1/events/bulk', {
      events: [
        {
          workflow: 'morning',
          to: [early, late].map((subscriberId) => ({ subscriberId, timezone: NEW_YORK })),
          data: { n: 3 },
          schedule: { ...schedule, spreadOver: '5s' },
        },
      ],
    });
    expect(bulk.status).toBe(202);
    const spread = bulk.body.results[0].eventId as string;
    const byId = await accepted({
      workflow: 'morning',
      to: [{ subscriberId: 'cancel_1', timezone: NEW_YORK }],
      schedule,
    });
    const keyed = [
      await accepted({
        workflow: 'morning',
        to: [{ topic: 'early-birds' }],
        schedule,
        cancellationKey: 'am-1',
      }),
      await accepted({ workflow: 'morning', to: ['cancel_2'], schedule, cancellationKey: 'am-1' }),
    ];
    // sendAt with a schedule means "the next local time at or after sendAt": here, tomorrow's.
    const notBefore = await accepted({
      workflow: 'morning',
      to: [{ subscriberId: 'late_1', timezone: NEW_YORK }],
      schedule,
      sendAt: iso(due + 1000),
    });

    // Split by instant: New York and Toronto clocks at `due`, Kolkata's at its own next `localTime`.
    const createdAt = Date.parse((await eventView(direct)).createdAt);
    const kolkata = nextLocalTime(schedule.localTime, KOLKATA, createdAt);
    expect(kolkata).not.toBe(due);
    expect(runTimes(await splitInto(direct, 2))).toEqual({
      ny_1: iso(due),
      nozone_1: iso(due),
      in_1: iso(kolkata),
    });
    expect(runTimes(await splitInto(topic, 1))).toEqual({ bird_1: iso(due), bird_2: iso(due) });
    expect(runTimes(await splitInto(spread, 2))).toEqual({
      [early!]: iso(due + spreadOffset(early!, 5000)),
      [late!]: iso(due + spreadOffset(late!, 5000)),
    });
    await splitInto(byId, 1);
    await splitInto(keyed[0]!, 1);
    await splitInto(keyed[1]!, 1);

    // Nothing is built before its time; the event says what it is waiting for.
    for (const id of [direct, topic, spread]) {
      const view = await eventView(id);
      expect(view.status).toBe('accepted');
      expect(view.messages).toEqual([]);
      expect(view.schedule.localTime).toBe(schedule.localTime);
    }
    expect(Date.now(), 'the events were split before their time came').toBeLessThan(due);

    const cancelled = await server.call('DELETE', `/v1/events/${byId}`);
    expect(cancelled.body).toEqual({ eventId: byId, status: 'cancelled', cancelledMessages: 0 });
    const byKey = await server.call('DELETE', '/v1/events?cancellationKey=am-1');
    expect(byKey.body).toEqual({ cancellationKey: 'am-1', cancelledEvents: 2, cancelledMessages: 0 });

    // At `due`: New York and the tenant's zone get theirs; Kolkata's recipient waits.
    const directView = await withMessages(direct, 2);
    const bySubscriber = new Map(directView.messages.map((m: Json) => [m.subscriberId, m]));
    expectBuiltAt(bySubscriber.get('ny_1'), due);
    expectBuiltAt(bySubscriber.get('nozone_1'), due);
    for (const message of (await withMessages(topic, 2)).messages) expectBuiltAt(message, due);
    const spreadView = await withMessages(spread, 2);
    for (const message of spreadView.messages)
      expectBuiltAt(message, due + spreadOffset(message.subscriberId, 5000));

    // The cancelled events' jobs came due with the others and made nothing.
    await waitFor(async () => {
      const jobs = await queuedJobs(server.databaseUrl, 'deliver');
      return !jobs.some((job) => [byId, ...keyed].includes(job.payload.eventId as string));
    }, 'the cancelled events’ scheduled jobs to run');
    for (const id of [byId, ...keyed]) {
      const view = await eventView(id);
      expect(view.status).toBe('cancelled');
      expect(view.messages).toEqual([]);
    }

    // Still waiting: Kolkata's recipient, and the event whose sendAt came a second after `due`.
    expect(runTimes(await scheduledJobs(direct))).toEqual({ in_1: iso(kolkata) });
    const tomorrow = nextLocalTime(schedule.localTime, NEW_YORK, due + 1000);
    expect(tomorrow).toBeGreaterThan(due + 20 * 3_600_000);
    expect(runTimes(await splitInto(notBefore, 1))).toEqual({ late_1: iso(tomorrow) });
    expect((await eventView(notBefore)).messages).toEqual([]);
  });
});

describe('schedule: what POST /v1/events refuses', () => {
  it.each([
    [{ localTime: '24:00' }, 'schedule.localTime'],
    [{ localTime: '9:00' }, 'schedule.localTime'],
    [{ localTime: '09:60' }, 'schedule.localTime'],
    [{ localTime: '09:00:00' }, 'schedule.localTime'],
    [{ localTime: 900 }, 'schedule.localTime'],
    [{ spreadOver: '60m' }, 'schedule.localTime'],
    [{ localTime: '09:00', spreadOver: '25h' }, 'schedule.spreadOver'],
    [{ localTime: '09:00', spreadOver: '2d' }, 'schedule.spreadOver'],
    [{ localTime: '09:00', spreadOver: '99999999999999999999h' }, 'schedule.spreadOver'],
    [{ localTime: '09:00', spreadOver: '-1m' }, 'schedule.spreadOver'],
    [{ localTime: '09:00', spreadOver: 'an hour' }, 'schedule.spreadOver'],
    [{ localTime: '09:00', zone: 'UTC' }, 'schedule.zone'],
    ['09:00', 'schedule'],
  ])('schedule %j → 400 naming %s (single and bulk), nothing accepted', async (value, path) => {
    const body = { workflow: 'morning', to: ['refused_1'], schedule: value };
    const res = await server.call('POST', '/v1/events', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    const bulk = await server.call('POST', '/v1/events/bulk', { events: [body] });
    expect(bulk.status).toBe(202);
    expect(bulk.body.results[0].error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: `events[0].${path}` })]),
    );
    expect((await server.call('GET', '/v1/subscribers/refused_1')).status).toBe(404);
  });

  it('takes the widest spread (24h) and a schedule without one', async () => {
    for (const schedule of [{ localTime: '00:00', spreadOver: '24h' }, { localTime: '23:59' }]) {
      const res = await server.call('POST', '/v1/events', { workflow: 'morning', to: ['taken_1'], schedule });
      expect(res.status).toBe(202);
    }
  });
});
