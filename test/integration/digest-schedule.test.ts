import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextLocalTime } from '../../src/policy/local-schedule.ts';
import { type JobRunner, jobRunner } from '../helpers/job-runner.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { shiftClockForward } from '../helpers/shifted-clock.ts';
import { queuedJobs } from '../helpers/store-under-test.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * A digest of a scheduled event: its close is split by the schedule again, in the recipient's
 * zone as it is at the close. The server runs only its API, in this process: the test runs the
 * jobs itself (at the times it says) and moves this process's clock to the scheduled minute.
 */

let server: TestServer;
let runner: JobRunner;
let restoreClock = () => {};
const MINUTE = 60_000;
const NEW_YORK = 'America/New_York';

beforeAll(async () => {
  server = await startTestServer({}, ['api']);
  runner = jobRunner(server);
  const workflow = {
    digest: { window: '10s' },
    channels: [{ channel: 'in_app', template: { title: '{{ count }} updates' } }],
  };
  expect((await server.call('PUT', '/v1/workflows/daily', workflow)).status).toBe(200);
});

afterAll(async () => {
  restoreClock();
  await server?.close();
});

/** `HH:MM` on the wall clock of `zone` at `instant`. */
function clockIn(zone: string, instant: number): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(instant);
}

describe('a digest close of a scheduled event', () => {
  it('whose recipient moved to a zone where the time is still to come waits for it, not looping', async () => {
    expect((await server.call('PUT', '/v1/subscribers/mover', { timezone: 'UTC' })).status).toBe(200);
    // The next whole minute, UTC: the recipient's schedule.
    const due = Math.ceil((Date.now() + 5_000) / MINUTE) * MINUTE;
    const localTime = clockIn('UTC', due);
    const sent = await server.call('POST', '/v1/events', {
      workflow: 'daily',
      to: ['mover'],
      schedule: { localTime },
    });
    expect(sent.status).toBe(202);
    const eventId: string = sent.body.eventId;
    const createdAt = Date.parse((await server.call('GET', `/v1/events/${eventId}`)).body.createdAt);
    await runner.run();
    const [split] = await queuedJobs(server.databaseUrl, 'deliver');
    expect(split).toMatchObject({ runAt: due, payload: { eventId, at: due } });

    // The minute comes: the recipient joins a digest, which closes 10 s later.
    restoreClock = shiftClockForward(due - Date.now() + 1000);
    await runner.run();
    const [close] = await queuedJobs(server.databaseUrl, 'digest');
    expect(close).toBeDefined();
    expect((await server.call('GET', `/v1/events/${eventId}`)).body.messages).toEqual([]);
    // Meanwhile the recipient moves to New York, where `localTime` is hours away.
    const moved = await server.call('PUT', '/v1/subscribers/mover', { timezone: NEW_YORK });
    expect(moved.status).toBe(200);
    const inNewYork = nextLocalTime(localTime, NEW_YORK, createdAt);
    expect(inNewYork).toBeGreaterThan(Date.now() + MINUTE);

    // The close: nothing yet; the rest waits, as a scheduled delivery's does, for its instant.
    const closing = await runner.run({ now: close!.runAt, held: (job) => job.kind === 'digest' });
    expect(closing).not.toBeNull();
    await runner.runJob(closing!);
    expect((await server.call('GET', `/v1/events/${eventId}`)).body.messages).toEqual([]);
    const again = await queuedJobs(server.databaseUrl, 'digest');
    expect(again).toEqual([expect.objectContaining({ runAt: inNewYork, payload: close!.payload })]);

    // At that instant, it is sent: one message, its timeline naming the schedule.
    restoreClock();
    restoreClock = shiftClockForward(inNewYork - Date.now() + 1000);
    await runner.run();
    const { messages } = (await server.call('GET', `/v1/events/${eventId}`)).body;
    expect(messages).toHaveLength(1);
    const message: Json = (await server.call('GET', `/v1/messages/${messages[0].messageId}`)).body;
    expect(message).toMatchObject({
      channel: 'in_app',
      status: 'delivered',
      content: { title: '1 updates' },
    });
    expect(message.timeline.find((e: Json) => e.status === 'scheduled').at).toBe(
      new Date(inNewYork).toISOString(),
    );
    expect(await queuedJobs(server.databaseUrl, 'digest')).toEqual([]);
  });
});
