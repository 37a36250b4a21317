import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callJson,
  cleanupChildren,
  REPO_ROOT,
  type RunningChild,
  startChild,
  tempDataDir,
} from '../helpers/child.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * Acceptance: one `tidings api` and three `tidings worker` processes on one PostgreSQL database.
 * 10,000 events go to 1,000 subscribers through the bulk endpoint; one worker is SIGKILLed when
 * it holds jobs, once a quarter of the inbox rows exist. The other two must finish everything, exactly once.
 *
 * The workload is fixed, so every count below is exact:
 * - subscribers `s0000`…`s0999`, each with an email address, all members of topic `everyone`;
 * - workflow `note` writes an in-app inbox row; workflow `alert` also sends an email (no
 *   integration: the sandbox provider), which goes through a `send` job on the recipient's
 *   partition and ends `sent`;
 * - event n (0…9,999) goes, when n % 1000 = 999 (10 events), to the topic with `note` — the
 *   paged fanout → `deliver` job path, 1,000 inbox rows each —; otherwise to subscriber n % 1000
 *   alone (delivered inline by the fanout job), with `alert` when n % 3 = 0 and `note` otherwise.
 * That is 19,990 inbox rows and 3,330 emails (s0000…s0998 get 3 or 4 each, sent one at a time).
 * TIDINGS_LEASE_MS is 3 s, so the killed worker's leases expire and are swept back quickly.
 */

const KEY = 'tdk_multi_process_key_0123456789';
const LEASE_MS = 3_000;
const SUBSCRIBERS = 1_000;
const EVENTS = 10_000;
const BULK = 1_000;
const TOPIC = 'everyone';

const subscriberIds = Array.from({ length: SUBSCRIBERS }, (_, i) => `s${String(i).padStart(4, '0')}`);

/** What event n is: its workflow and recipients. */
function plan(n: number): { workflow: 'note' | 'alert'; recipients: string[]; to: unknown[] } {
  if (n % SUBSCRIBERS === SUBSCRIBERS - 1)
    return { workflow: 'note', recipients: subscriberIds, to: [{ topic: TOPIC }] };
  const subscriber = subscriberIds[n % SUBSCRIBERS]!;
  return { workflow: n % 3 === 0 ? 'alert' : 'note', recipients: [subscriber], to: [subscriber] };
}

const PLANS = Array.from({ length: EVENTS }, (_, n) => plan(n));
const INBOX_ROWS = PLANS.reduce((sum, p) => sum + p.recipients.length, 0);
const EMAILS = PLANS.reduce((sum, p) => sum + (p.workflow === 'alert' ? p.recipients.length : 0), 0);

afterEach(cleanupChildren);

/** The lease owner a worker logged at start (`{"msg":"worker started","owner":"host:pid:hex"}`). */
async function ownerOf(worker: RunningChild): Promise<string> {
  const owner = await waitFor(
    () => {
      for (const line of worker.stdout().split('\n')) {
        if (line.includes('"worker started"')) return (JSON.parse(line) as { owner: string }).owner;
      }
      return null;
    },
    'the worker to log its lease owner',
    10_000,
  );
  return owner!;
}

/** Log lines at level error (50) or fatal (60). */
function errorLines(child: RunningChild): string[] {
  return child
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{') && (JSON.parse(line) as { level: number }).level >= 50);
}

async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

describe.runIf(postgresAvailable)('multi-process workers on PostgreSQL (acceptance)', () => {
  it('1 api + 3 worker processes on PostgreSQL, 10,000 events to 1,000 subscribers; one worker killed with SIGKILL halfway: every inbox row exists exactly once and every message reaches a final state', async () => {
    const startedAt = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${Date.now() - startedAt} ms`);
    const databaseUrl = await freshDatabaseUrl();
    const env = {
      TIDINGS_DATABASE_URL: databaseUrl,
      TIDINGS_DATA_DIR: tempDataDir('tidings-multi-'),
      TIDINGS_API_KEY: KEY,
      TIDINGS_LEASE_MS: String(LEASE_MS),
    };
    const db = new pg.Client({ connectionString: databaseUrl });
    const count = async (sql: string, values: unknown[] = []) =>
      (await db.query<{ n: number }>(`SELECT count(*)::INT AS n FROM ${sql}`, values)).rows[0]!.n;
    /** Jobs by kind and state, messages by channel and status: what a timeout reports. */
    const progress = async () =>
      JSON.stringify(
        (
          await db.query(
            `SELECT (SELECT json_object_agg(k, n) FROM (SELECT kind || ':' || state AS k, count(*) AS n FROM jobs GROUP BY 1) j) AS jobs,
                    (SELECT json_object_agg(k, n) FROM (SELECT channel || ':' || status AS k, count(*) AS n FROM messages GROUP BY 1) m) AS messages`,
          )
        ).rows[0],
      );
    const explain = async (error: Error) => {
      throw new Error(`${error.message}; at ${Date.now() - startedAt} ms: ${await progress()}`, {
        cause: error,
      });
    };
    let sampling = false;
    let sampler: Promise<void> = Promise.resolve();

    // All four processes start together on the empty database: they migrate concurrently (one
    // runs the migrations under the advisory lock, the others wait) and all seed the same key.
    const workerOptions = { args: ['worker'], portVariable: 'TIDINGS_WORKER_PORT', healthyWithinMs: 40_000 };
    const [api, ...workers] = await Promise.all([
      startChild(env, { args: ['api'], healthyWithinMs: 40_000 }),
      startChild(env, workerOptions),
      startChild(env, workerOptions),
      startChild(env, workerOptions),
    ]);
    const [victim, ...survivors] = workers as [RunningChild, RunningChild, RunningChild];
    const owners = await Promise.all(workers.map(ownerOf));
    const [victimOwner, ...survivorOwners] = owners as [string, string, string];
    expect(new Set(owners).size).toBe(3);
    phase('started');
    await db.connect();
    try {
      // Each migration ran once, although four processes migrated at the same time.
      const migrations = readdirSync(path.join(REPO_ROOT, 'src/store/postgres/migrations')).filter((f) =>
        f.endsWith('.sql'),
      );
      expect(await count('schema_migrations')).toBe(migrations.length);
      expect(await count(`api_keys WHERE tenant_id = 'default'`)).toBe(1);

      // Setup: the workflows, 1,000 subscribers with an email address, all in one topic.
      const inApp = {
        channel: 'in_app',
        template: { title: 'Event {{ data.n }}', body: 'for {{ subscriber.subscriberId }}' },
      };
      const email = {
        channel: 'email',
        template: { subject: 'Event {{ data.n }}', html: '<p>{{ data.n }}</p>' },
      };
      for (const [key, channels] of [
        ['note', [inApp]],
        ['alert', [inApp, email]],
      ] as const) {
        const put = await callJson(`${api.url}/v1/workflows/${key}`, 'PUT', KEY, { channels });
        expect(put.status, JSON.stringify(put.body)).toBe(200);
      }
      await inParallel(subscriberIds, 8, async (id) => {
        const put = await callJson(`${api.url}/v1/subscribers/${id}`, 'PUT', KEY, {
          email: `${id}@example.com`,
        });
        expect(put.status, JSON.stringify(put.body)).toBe(200);
      });
      expect((await callJson(`${api.url}/v1/topics/${TOPIC}`, 'PUT', KEY, {})).status).toBe(200);
      const joined = await callJson(`${api.url}/v1/topics/${TOPIC}/subscribers`, 'POST', KEY, {
        subscriberIds,
      });
      expect(joined.status, JSON.stringify(joined.body)).toBeLessThan(300);
      phase('set up');

      // Lease owners seen holding jobs, before and after the kill (sampled from the jobs table).
      const seenBefore = new Set<string>();
      const seenAfter = new Set<string>();
      let killed = false;
      sampling = true;
      sampler = (async () => {
        const sampleDb = new pg.Client({ connectionString: databaseUrl });
        await sampleDb.connect();
        try {
          while (sampling) {
            const { rows } = await sampleDb.query<{ lease_owner: string }>(
              `SELECT DISTINCT lease_owner FROM jobs WHERE state = 'leased'`,
            );
            for (const row of rows) (killed ? seenAfter : seenBefore).add(row.lease_owner);
            await sleep(50);
          }
        } finally {
          await sampleDb.end();
        }
      })();

      // Ingest: ten bulk requests of 1,000, two in flight; each event has its own idempotency key.
      const eventIds: string[] = new Array(EVENTS);
      const batches = Array.from({ length: EVENTS / BULK }, (_, b) => b);
      const ingest = inParallel(batches, 2, async (b) => {
        const events = Array.from({ length: BULK }, (_, i) => {
          const n = b * BULK + i;
          const { workflow, to } = PLANS[n]!;
          return { workflow, to, data: { n }, idempotencyKey: `multi-${n}` };
        });
        const response = await callJson(`${api.url}/v1/events/bulk`, 'POST', KEY, { events });
        expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(202);
        response.body.results.forEach((result: { eventId?: string; status?: string }, i: number) => {
          expect(result, `event ${b * BULK + i}`).toMatchObject({ status: 'accepted' });
          eventIds[b * BULK + i] = result.eventId!;
        });
      }).then(() => phase('ingested'));
      // A failed bulk request fails the test at once rather than after the waits below.
      let ingestError: unknown = null;
      ingest.catch((error) => {
        ingestError = error;
      });

      // SIGKILL one worker while it holds jobs, once a good part of the inbox rows exist; note the
      // leases it leaves behind. (Events accepted together share their first job, so the backlog is
      // a few hundred jobs, not thousands: a worker may be between batches at any given moment,
      // and killing it then would prove nothing about recovery.)
      await waitFor(
        async () => {
          if (ingestError) throw ingestError;
          if ((await count(`messages WHERE channel = 'in_app'`)) < INBOX_ROWS / 4) return false;
          // Frozen first, so it cannot finish its jobs between this look and the kill.
          victim.proc.kill('SIGSTOP');
          if ((await count(`jobs WHERE state = 'leased' AND lease_owner = $1`, [victimOwner])) > 0)
            return true;
          victim.proc.kill('SIGCONT');
          return false;
        },
        'a quarter of the inbox rows, with the victim holding jobs',
        60_000,
        5,
      ).catch(explain);
      victim.kill('SIGKILL');
      await victim.exited;
      killed = true;
      phase('killed');
      expect(victim.proc.signalCode).toBe('SIGKILL');
      const inboxAtKill = await count(`messages WHERE channel = 'in_app'`);
      const { rows: orphans } = await db.query<{ id: number; kind: string }>(
        `SELECT id, kind FROM jobs WHERE state = 'leased' AND lease_owner = $1`,
        [victimOwner],
      );
      // The victim died holding jobs (it was killed while it did).
      expect(orphans.length).toBeGreaterThan(0);
      await ingest;
      expect(eventIds.filter(Boolean)).toHaveLength(EVENTS);
      expect(new Set(eventIds).size).toBe(EVENTS);

      // The two survivors finish everything: no job left in any state, every email out.
      await waitFor(
        async () =>
          (await count('jobs')) === 0 &&
          (await count(`messages WHERE channel = 'in_app'`)) === INBOX_ROWS &&
          (await count(`messages WHERE channel = 'email' AND status = 'sent'`)) === EMAILS,
        'the surviving workers to finish every job',
        90_000,
        100,
      ).catch(explain);
      phase('finished');
      sampling = false;
      await sampler;

      // Exactly the planned (event, subscriber, channel) triples, each once.
      const { rows: messages } = await db.query<{
        id: string;
        event_id: string;
        subscriber_id: string;
        channel: string;
        status: string;
        last: string;
        sendings: number;
      }>(
        `SELECT id, event_id, subscriber_id, channel, status, timeline->-1->>'status' AS last,
                (SELECT count(*)::INT FROM jsonb_array_elements(timeline) t WHERE t->>'status' = 'sending') AS sendings
           FROM messages`,
      );
      const actual = new Map<string, number>();
      for (const m of messages) {
        const triple = `${m.event_id}|${m.subscriber_id}|${m.channel}`;
        actual.set(triple, (actual.get(triple) ?? 0) + 1);
      }
      const expected = new Set<string>();
      PLANS.forEach(({ workflow, recipients }, n) => {
        for (const s of recipients) {
          expected.add(`${eventIds[n]}|${s}|in_app`);
          if (workflow === 'alert') expected.add(`${eventIds[n]}|${s}|email`);
        }
      });
      expect(expected.size).toBe(INBOX_ROWS + EMAILS);
      expect(messages).toHaveLength(INBOX_ROWS + EMAILS);
      expect([...actual].filter(([, n]) => n !== 1)).toEqual([]);
      expect([...expected].filter((triple) => !actual.has(triple)).slice(0, 10)).toEqual([]);

      // Every message is final — in-app `delivered`, email `sent` — and its timeline ends there.
      const statuses: Record<string, number> = {};
      for (const m of messages)
        statuses[`${m.channel}:${m.status}`] = (statuses[`${m.channel}:${m.status}`] ?? 0) + 1;
      expect(statuses).toEqual({ 'in_app:delivered': INBOX_ROWS, 'email:sent': EMAILS });
      expect(messages.filter((m) => m.last !== m.status).slice(0, 10)).toEqual([]);

      // Every email was handed to the provider, and never twice in one attempt: a message has at
      // most as many sandbox captures as `sending` entries (a second only when a crash re-ran it).
      const { rows: captures } = await db.query<{ message_id: string; n: number }>(
        'SELECT message_id, count(*)::INT AS n FROM sandbox_captures GROUP BY message_id',
      );
      const capturesOf = new Map(captures.map((c) => [c.message_id, c.n]));
      const emails = messages.filter((m) => m.channel === 'email');
      expect(captures).toHaveLength(EMAILS);
      expect(emails.filter((m) => !capturesOf.has(m.id))).toEqual([]);
      expect(emails.filter((m) => capturesOf.get(m.id)! > m.sendings)).toEqual([]);
      const resent = emails.filter((m) => capturesOf.get(m.id)! > 1).length;

      // The queue is empty: nothing ready, leased or dead; nothing dead-lettered.
      expect(await count('jobs')).toBe(0);
      expect(await count(`messages WHERE status = 'dead'`)).toBe(0);
      expect(await count('events')).toBe(EVENTS);

      // The killed worker's jobs were swept back once its lease expired, and finished by others.
      expect(await count('jobs WHERE id = ANY($1::BIGINT[])', [orphans.map((o) => o.id)])).toBe(0);
      const reclaimed = survivors.some((w) => w.stdout().includes('reclaimed jobs whose lease expired'));
      expect(reclaimed, 'a survivor logged that it reclaimed expired leases').toBe(true);

      // The work was shared: all three workers held leases before the kill, both survivors after.
      expect([...seenBefore].sort()).toEqual([...owners].sort());
      expect([...seenAfter]).toEqual(expect.arrayContaining(survivorOwners));

      // Through the API: sampled inboxes hold exactly their items, unread; events are completed.
      for (const id of ['s0000', 's0001', 's0002', 's0500', 's0998', 's0999']) {
        const minted = await callJson(`${api.url}/v1/subscribers/${id}/token`, 'POST', KEY);
        expect(minted.status).toBe(200);
        const unread = await callJson(`${api.url}/v1/inbox/unread-count`, 'GET', minted.body.token);
        expect(unread.status).toBe(200);
        expect(unread.body.count, id).toBe(PLANS.filter((p) => p.recipients.includes(id)).length);
      }
      for (const n of [0, 1, 999, 5_000, 9_999]) {
        const event = await callJson(`${api.url}/v1/events/${eventIds[n]}`, 'GET', KEY);
        expect(event.status).toBe(200);
        expect(event.body.status, `event ${n}`).toBe('completed');
        const channels = PLANS[n]!.workflow === 'alert' ? 2 : 1;
        expect(event.body.messages).toHaveLength(PLANS[n]!.recipients.length * channels);
      }

      // Nobody else crashed or logged an error along the way.
      for (const child of [api, ...survivors]) {
        expect(child.proc.exitCode).toBeNull();
        expect(errorLines(child)).toEqual([]);
      }

      console.info(
        `multi-process: ${EVENTS} events → ${INBOX_ROWS} inbox rows + ${EMAILS} emails; SIGKILL at ` +
          `${inboxAtKill} inbox rows, holding ${orphans.length} jobs (${[...new Set(orphans.map((o) => o.kind))].join(', ') || 'none'}); ` +
          `${resent} emails sent again after the crash; ${phases.join(', ')}`,
      );
    } finally {
      sampling = false;
      await sampler.catch(() => undefined);
      await db.end();
    }
  }, 180_000);
});
