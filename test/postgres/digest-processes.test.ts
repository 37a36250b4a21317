import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { callJson, cleanupChildren, type RunningChild, startChild, tempDataDir } from '../helpers/child.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Digests with four worker processes racing on one PostgreSQL database: one `tidings api` and
 * four `tidings worker`s. Events of workflow `batch` (digest window 1 s, key `data.thread`) go to
 * two subscribers each, on two threads: four (subscriber, key) pairs, each gathering events over
 * several windows — the deliveries that join a window and the close jobs that end it run in
 * whichever process claims them, at the same time.
 *
 * Every digest message lists the events it gathered (`count|n,n,…`), so the outcome is checked
 * exactly: every accepted event is counted once, in one digest per recipient, and each window
 * sent one in-app and one email message.
 */

const KEY = 'tdk_digest_processes_key_0123456';
const EVENTS = 160;
const SUBSCRIBERS = ['ds0', 'ds1'];
const threadOf = (n: number) => `t${n % 2}`;

afterEach(cleanupChildren);

/** Log lines at level error (50) or fatal (60). */
function errorLines(child: RunningChild): string[] {
  return child
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{') && (JSON.parse(line) as { level: number }).level >= 50);
}

describe.runIf(postgresAvailable)('digests with worker processes racing on PostgreSQL', () => {
  it('1 api + 4 worker processes, 160 events to 2 subscribers on 2 keys over several windows: each event counted exactly once, one message per channel per window', async () => {
    const databaseUrl = await freshDatabaseUrl();
    const env = { TIDINGS_DATABASE_URL: databaseUrl, TIDINGS_API_KEY: KEY, TIDINGS_LEASE_MS: '5000' };
    const workerOptions = { args: ['worker'], portVariable: 'TIDINGS_WORKER_PORT', healthyWithinMs: 40_000 };
    const [api, ...workers] = await Promise.all([
      startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, { args: ['api'], healthyWithinMs: 40_000 }),
      ...Array.from({ length: 4 }, () =>
        startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, workerOptions),
      ),
    ]);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const workflow = {
        channels: [
          {
            channel: 'in_app',
            template: { title: '{{ data.thread }}', body: '{{ count }}|{{ events | map: "n" | join: "," }}' },
          },
          { channel: 'email', template: { subject: '{{ count }} on {{ data.thread }}', text: 'x' } },
        ],
        digest: { window: '1s', key: '{{ data.thread }}' },
      };
      const put = await callJson(`${api!.url}/v1/workflows/batch`, 'PUT', KEY, workflow);
      expect(put.status, JSON.stringify(put.body)).toBe(200);
      for (const id of SUBSCRIBERS)
        expect(
          (await callJson(`${api!.url}/v1/subscribers/${id}`, 'PUT', KEY, { email: `${id}@example.com` }))
            .status,
        ).toBe(200);

      const send = async (from: number, to: number) => {
        for (let start = from; start < to; start += 10) {
          const events = Array.from({ length: Math.min(10, to - start) }, (_, i) => ({
            workflow: 'batch',
            to: SUBSCRIBERS,
            data: { thread: threadOf(start + i), n: start + i },
          }));
          const response = await callJson(`${api!.url}/v1/events/bulk`, 'POST', KEY, { events });
          expect(response.status, JSON.stringify(response.body)).toBe(202);
          for (const result of response.body.results) expect(result.status).toBe('accepted');
        }
      };
      const count = async (sql: string) =>
        (await db.query<{ n: number }>(`SELECT count(*)::INT AS n FROM ${sql}`)).rows[0]!.n;

      // Half the events; once the first windows have closed, the other half opens new ones.
      await send(0, EVENTS / 2);
      await waitFor(
        async () => (await count(`messages WHERE channel = 'in_app'`)) > 0,
        'a first digest',
        20_000,
      );
      await send(EVENTS / 2, EVENTS);
      await waitFor(
        async () => (await count('digests')) === 0 && (await count('jobs')) === 0,
        'every window to close and its messages to be sent',
        30_000,
      );

      const { rows } = await db.query<{
        subscriber_id: string;
        channel: string;
        event_id: string;
        status: string;
        content: string;
      }>(`SELECT subscriber_id, channel, event_id, status, content::TEXT AS content FROM messages`);
      const inApp = rows.filter((r) => r.channel === 'in_app');
      const email = rows.filter((r) => r.channel === 'email');
      // One in-app and one email message per window: the same (event, subscriber) pairs.
      const pairs = (list: typeof rows) => list.map((r) => `${r.event_id}/${r.subscriber_id}`).sort();
      expect(pairs(email)).toEqual(pairs(inApp));
      expect(email.every((r) => r.status === 'sent')).toBe(true);
      expect(inApp.every((r) => r.status === 'delivered')).toBe(true);

      const seen = new Map<string, number[]>();
      for (const row of inApp) {
        const content = JSON.parse(row.content) as { title: string; body: string };
        const [total, list] = content.body.split('|') as [string, string];
        const ns = list.split(',').map(Number);
        expect(ns).toHaveLength(Number(total));
        // All of one thread. (Not checked: n order. The events of one bulk request share their
        // acceptance time, and those are listed in id order; oldest-first is tested end to end.)
        expect(ns.every((n) => threadOf(n) === content.title)).toBe(true);
        const key = `${row.subscriber_id}/${content.title}`;
        seen.set(key, [...(seen.get(key) ?? []), ...ns]);
      }
      // Every accepted event counted exactly once, for each of its recipients.
      for (const subscriber of SUBSCRIBERS)
        for (const thread of ['t0', 't1']) {
          const expected = Array.from({ length: EVENTS }, (_, n) => n).filter((n) => threadOf(n) === thread);
          expect(seen.get(`${subscriber}/${thread}`)?.sort((a, b) => a - b)).toEqual(expected);
        }
      // Several windows per (subscriber, key): the closes really raced new joins.
      expect(inApp.length).toBeGreaterThanOrEqual(2 * SUBSCRIBERS.length * 2);
      expect(await count('digest_events')).toBe(0);
      for (const child of [api!, ...workers]) expect(errorLines(child)).toEqual([]);
    } finally {
      await db.end();
    }
  });
});
