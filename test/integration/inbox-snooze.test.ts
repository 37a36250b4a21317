import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { openSse } from '../helpers/sse.ts';
import { queuedJobs } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const put = await server.call('PUT', '/v1/workflows/ping', {
    channels: [{ channel: 'in_app', template: { title: 'ping', body: 'b' } }],
  });
  expect(put.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

/** A fresh subscriber's token and the one inbox item an event left them. */
async function itemFor(subscriberId: string): Promise<{ token: string; itemId: string }> {
  expect((await server.call('POST', '/v1/events', { workflow: 'ping', to: [subscriberId] })).status).toBe(
    202,
  );
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
  const item = await waitFor(async () => {
    const items = (await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items;
    return items?.[0] ?? null;
  }, 'the inbox item');
  return { token, itemId: item.id };
}

/** The item's wake jobs waiting or running: a job is gone only once neither. */
async function wakeJobs(itemId: string) {
  const jobs = await queuedJobs(server.databaseUrl, 'inbox-wake', { leased: true });
  return jobs.filter((job) => job.payload.itemId === itemId);
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('snoozing an item again', () => {
  it('keeps one wake job per item, moved to the last snooze, and wakes the item then', async () => {
    // Found by review: each snooze queued a wake job of its own (up to a year ahead), so one
    // subscriber token re-snoozing in a loop grew the jobs table without bound.
    const { token, itemId } = await itemFor('snoozer');
    const as = { auth: token };
    const stream = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    try {
      await stream.next('ready');
      // Earlier and later than the last snooze, up to the year the API allows. The earlier ones
      // are far enough ahead that no job of theirs comes due while the loop runs.
      const offsets = [1500, 364 * 86_400_000, 3_600_000, 2000];
      for (let i = 0; i < 20; i++) {
        const until = inMs(offsets[i % offsets.length]!);
        const snoozed = await server.call('POST', `/v1/inbox/${itemId}/snooze`, { until }, as);
        expect(snoozed.status).toBe(200);
      }
      const last = inMs(3000);
      const snoozed = await server.call('POST', `/v1/inbox/${itemId}/snooze`, { until: last }, as);
      expect(snoozed.body.snoozedUntil).toBe(last);
      const until = Date.parse(last);
      expect(await wakeJobs(itemId)).toEqual([
        { kind: 'inbox-wake', runAt: until, payload: { itemId, subscriberId: 'snoozer', until } },
      ]);

      // Back when the last snooze ends, not at an earlier one.
      const back = await stream.next('item.created', 10_000);
      expect(Date.now()).toBeGreaterThanOrEqual(until);
      expect(back.data.item).toMatchObject({ id: itemId, readAt: null, seenAt: null, snoozedUntil: null });
      expect(stream.seen.filter((e) => e.event === 'item.created')).toHaveLength(1);
      await waitFor(async () => (await wakeJobs(itemId)).length === 0, 'the wake job to finish');

      // Snoozed again once woken: a wake job of its own, the last one being gone.
      const again = inMs(3_600_000);
      await server.call('POST', `/v1/inbox/${itemId}/snooze`, { until: again }, as);
      expect((await wakeJobs(itemId)).map((j) => j.runAt)).toEqual([Date.parse(again)]);
    } finally {
      stream.close();
    }
  });

  it('keeps one wake job when the snoozes of one item arrive at once', async () => {
    // Concurrent requests of one subscriber: each must find the job the one before it queued.
    const { token, itemId } = await itemFor('racer');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        server.call(
          'POST',
          `/v1/inbox/${itemId}/snooze`,
          { until: inMs(3_600_000 + i * 1000) },
          { auth: token },
        ),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const jobs = await wakeJobs(itemId);
    expect(jobs).toHaveLength(1);
    // The one job ends the snooze that won (the test key's tenant is `default`).
    const item = await server.tidings.store.getMessage('default', itemId);
    expect(item?.snoozedUntil).toBeGreaterThan(Date.now());
    expect(jobs[0]).toMatchObject({ runAt: item?.snoozedUntil, payload: { until: item?.snoozedUntil } });
  });
});
