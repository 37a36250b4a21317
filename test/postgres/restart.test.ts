import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool, transaction } from '../../src/store/postgres/client.ts';
import { callJson, cleanupChildren, type RunningChild, startChild, tempDataDir } from '../helpers/child.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { type PgCluster, postgresBinDir, type StopMode, startPgCluster } from '../helpers/pg-cluster.ts';

// Restarting PostgreSQL under load, on a private cluster this file starts on a free port (never
// the machine's shared server): Tidings must ride it out without exiting, and every event a
// client sent — retrying 503s and dropped connections with the same idempotency key, as the API
// asks — must be accepted exactly once and land in the inbox exactly once.

const KEY = 'tdk_restart_test_key_0123456789';
const EVENTS = 2_000;
const IN_FLIGHT = 32;
const SUBSCRIBER = 'restart_user';
/** The restart begins once this many events were accepted, so load runs before, during and after it. */
const RESTART_AFTER = 600;
const DOWN_MS = 1_500;

const binaries = postgresBinDir();
if (!binaries) {
  if (process.env.CI)
    throw new Error('PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI');
  console.warn('\n  PostgreSQL restart test SKIPPED: no server binaries under /usr/lib/postgresql.\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Outcome {
  /** eventIds answered for this idempotency key (a 202 or a duplicate 200): must be exactly one. */
  eventIds: Set<string>;
  /** Fresh acceptances (202): at most one per key. */
  fresh: number;
}

interface Load {
  outcomes: Outcome[];
  unavailable: number;
  connectionErrors: number;
  duplicates: number;
  /** Answers other than 202, duplicate 200 and 503: each one is a bug. */
  unexpected: string[];
  /** Events accepted when the restart finished: fewer than EVENTS, or the restart missed the load. */
  acceptedWhenBack: number;
  restartMs: number;
}

/** POSTs EVENTS events IN_FLIGHT at a time, restarting the cluster once RESTART_AFTER were accepted. */
async function drive(child: RunningChild, cluster: PgCluster, mode: StopMode): Promise<Load> {
  const load: Load = {
    outcomes: Array.from({ length: EVENTS }, () => ({ eventIds: new Set<string>(), fresh: 0 })),
    unavailable: 0,
    connectionErrors: 0,
    duplicates: 0,
    unexpected: [],
    acceptedWhenBack: -1,
    restartMs: 0,
  };
  let accepted = 0;
  let restart: Promise<void> | null = null;
  const deadline = Date.now() + 40_000;

  const sendOne = async (n: number) => {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`event ${n} not accepted in time`);
      let response: Response;
      try {
        response = await fetch(`${child.url}/v1/events`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${KEY}`,
            'content-type': 'application/json',
            'idempotency-key': `restart-${mode}-${n}`,
          },
          body: JSON.stringify({ workflow: 'w', to: [SUBSCRIBER], data: { n } }),
          signal: AbortSignal.timeout(20_000),
        });
      } catch {
        // The answer may have been lost after a commit: the same key again is the safe retry.
        load.connectionErrors++;
        await sleep(200);
        continue;
      }
      const text = await response.text();
      // biome-ignore lint/suspicious/noExplicitAny: checked field by field
      let body: any = null;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: reported below
      }
      if (response.status === 503) {
        load.unavailable++;
        const after = Number(response.headers.get('retry-after'));
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 2) * 1000 : 500);
        continue;
      }
      const ok =
        (response.status === 202 && body?.status === 'accepted' && !body.duplicate) ||
        (response.status === 200 && body?.status === 'accepted' && body.duplicate === true);
      if (!ok) {
        load.unexpected.push(`event ${n}: ${response.status} ${text.slice(0, 300)}`);
        await sleep(200);
        continue;
      }
      const outcome = load.outcomes[n]!;
      outcome.eventIds.add(body.eventId);
      if (response.status === 202) outcome.fresh++;
      else load.duplicates++;
      if (++accepted === RESTART_AFTER) {
        const started = Date.now();
        restart = cluster.restart({ mode, downMs: DOWN_MS }).then(() => {
          load.restartMs = Date.now() - started;
          load.acceptedWhenBack = accepted;
        });
      }
      return;
    }
  };

  let next = 0;
  const lane = async () => {
    while (next < EVENTS) await sendOne(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  await restart;
  return load;
}

/** Every inbox item of the subscriber, page by page. */
// biome-ignore lint/suspicious/noExplicitAny: inbox items are checked field by field
async function readInbox(url: string, token: string): Promise<any[]> {
  // biome-ignore lint/suspicious/noExplicitAny: see above
  const items: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    if (++pages > 100) throw new Error('inbox pagination does not end (nextCursor keeps coming)');
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await callJson(`${url}/v1/inbox?limit=100${query}`, 'GET', token);
    if (page.status !== 200) throw new Error(`GET /v1/inbox: ${page.status} ${JSON.stringify(page.body)}`);
    items.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return items;
}

async function waitForReady(url: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
    if (response?.status === 200) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`/readyz not 200 within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** One number from the database behind `databaseUrl`, bypassing Tidings. */
async function countOf(databaseUrl: string, sql: string): Promise<number> {
  return withPostgres(databaseUrl, async (client) => (await client.query<{ n: number }>(sql)).rows[0]!.n);
}

// Sessions holding LISTEN for job wake-ups (src/store/postgres/channel.ts names them so).
const LISTENERS = `SELECT count(*)::INT AS n FROM pg_stat_activity
  WHERE datname = current_database() AND application_name = 'tidings-listen' AND query = 'LISTEN tidings_jobs'`;

describe.skipIf(!binaries)('restarting PostgreSQL under load (acceptance)', () => {
  let cluster: PgCluster | null = null;

  beforeAll(async () => {
    cluster = await startPgCluster();
  }, 60_000);
  afterEach(cleanupChildren);
  afterAll(async () => {
    await cluster?.cleanup();
  }, 30_000);

  it.each<[StopMode]>([['fast'], ['immediate']])(
    'workers reconnect and continue; nothing lost (pg_ctl stop -m %s)',
    async (mode) => {
      const db = cluster!;
      const databaseUrl = await db.createDatabase(`tidings_restart_${mode}`);
      const child = await startChild(
        {
          TIDINGS_DATABASE_URL: databaseUrl,
          TIDINGS_DATA_DIR: tempDataDir('tidings-restart-'),
          TIDINGS_API_KEY: KEY,
        },
        { healthyWithinMs: 30_000 },
      );
      const put = await callJson(`${child.url}/v1/workflows/w`, 'PUT', KEY, {
        channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.n }}', body: 'b' } }],
      });
      expect(put.status).toBe(200);
      const listeners = await countOf(databaseUrl, LISTENERS);
      expect(listeners).toBeGreaterThan(0);

      const started = Date.now();
      const load = await drive(child, db, mode);
      const context = () =>
        `load: ${JSON.stringify({ ...load, outcomes: undefined })}\n--- tidings log (tail) ---\n` +
        `${(child.stdout() + child.stderr()).slice(-4_000)}\n--- postgres log (tail) ---\n${db.log().slice(-2_000)}`;

      // The restart hit the load, and the API answered it with 503s, nothing else.
      expect(load.unexpected, context()).toEqual([]);
      expect(load.unavailable, context()).toBeGreaterThan(0);
      expect(load.acceptedWhenBack, context()).toBeLessThan(EVENTS);

      // Each idempotency key names exactly one event, accepted fresh at most once; all distinct.
      const perKey = load.outcomes.map((o) => [...o.eventIds]);
      expect(perKey.filter((ids) => ids.length !== 1).length, context()).toBe(0);
      expect(load.outcomes.filter((o) => o.fresh > 1).length).toBe(0);
      const eventIds = perKey.map((ids) => ids[0]!);
      expect(new Set(eventIds).size).toBe(EVENTS);
      expect(await countOf(databaseUrl, 'SELECT count(*)::INT AS n FROM events')).toBe(EVENTS);

      // Tidings is still the same process, and ready again.
      expect(child.proc.exitCode, context()).toBeNull();
      expect(child.proc.signalCode).toBeNull();
      await waitForReady(child.url, 15_000);

      // Every wake-up listener is back (they reconnect with backoff of at most 5 s).
      const listenDeadline = Date.now() + 15_000;
      while ((await countOf(databaseUrl, LISTENERS)) < listeners && Date.now() < listenDeadline)
        await sleep(200);
      expect(await countOf(databaseUrl, LISTENERS), context()).toBe(listeners);

      // Every event reaches the inbox exactly once, with its own data.
      const minted = await callJson(`${child.url}/v1/subscribers/${SUBSCRIBER}/token`, 'POST', KEY);
      expect(minted.status).toBe(200);
      const token: string = minted.body.token;
      // biome-ignore lint/suspicious/noExplicitAny: inbox items are checked field by field
      let items: any[] = [];
      const inboxDeadline = Date.now() + 40_000;
      for (;;) {
        items = await readInbox(child.url, token);
        if (new Set(items.map((item) => item.eventId)).size >= EVENTS || Date.now() > inboxDeadline) break;
        await sleep(250);
      }
      const drainedMs = Date.now() - started;
      const delivered = new Set(items.map((item) => item.eventId));
      // Should some never arrive: which ones, and what the queue and the events table say of them.
      const undelivered = async () => {
        const missing = eventIds.filter((id) => !delivered.has(id));
        const state = await withPostgres(databaseUrl, async (client) => ({
          events: (await client.query('SELECT id, status FROM events WHERE id = ANY($1)', [missing])).rows,
          jobs: (
            await client.query(
              'SELECT id, kind, attempts, run_at, state, lease_owner, lease_until, last_error, payload FROM jobs',
            )
          ).rows,
          now: Date.now(),
        }));
        return `${context()}\n--- undelivered ---\n${JSON.stringify({ missing, ...state }).slice(0, 4_000)}`;
      };
      expect(delivered.size, delivered.size < EVENTS ? await undelivered() : '').toBe(EVENTS);
      expect(items).toHaveLength(EVENTS);
      expect(new Set(items.map((item) => item.id)).size).toBe(EVENTS);
      const byEvent = new Map(items.map((item) => [item.eventId as string, item]));
      const wrong = eventIds.flatMap((id, n) => {
        const item = byEvent.get(id);
        return item?.data?.n === n && item.title === `Hi ${n}`
          ? []
          : [`event ${n} (${id}): ${JSON.stringify(item)}`];
      });
      expect(wrong).toEqual([]);

      // A sample of events, including those accepted around the restart, reads as completed.
      const sample = [0, 1, RESTART_AFTER - 1, RESTART_AFTER, RESTART_AFTER + 1, RESTART_AFTER + 50];
      for (let n = 0; n < EVENTS; n += 97) sample.push(n);
      sample.push(EVENTS - 1);
      for (const n of sample) {
        const event = await callJson(`${child.url}/v1/events/${eventIds[n]}`, 'GET', KEY);
        expect(event.status).toBe(200);
        expect(event.body.status, `event ${n}: ${JSON.stringify(event.body)}`).toBe('completed');
      }

      // Nothing crashed along the way: not the process, not its worker thread.
      expect(child.proc.exitCode).toBeNull();
      expect(child.stdout() + child.stderr()).not.toMatch(/worker thread (exited|failed)|uncaught/i);
      console.info(
        `[restart -m ${mode}] restart took ${load.restartMs} ms; all ${EVENTS} events in the inbox ` +
          `${drainedMs} ms after the load began; 503s: ${load.unavailable}, connection errors: ` +
          `${load.connectionErrors}, duplicates answered: ${load.duplicates}`,
      );
    },
    60_000,
  );

  // A connection checked out for a transaction has no error listener of the pool's; when the
  // server went away under it, node-postgres's 'error' event used to end the process.
  it.each<[StopMode]>([['fast'], ['immediate']])(
    'a transaction in flight fails, without crashing the process, when the server stops (-m %s)',
    async (mode) => {
      const db = cluster!;
      const pool = createPool({ url: db.url(), onIdleError: () => undefined });
      try {
        const inFlight = transaction(pool, (client) => client.query('SELECT pg_sleep(10)'));
        const outcome = inFlight.then(
          () => 'committed',
          (error: Error) => error.message,
        );
        await sleep(300);
        await db.stop({ mode });
        expect(await outcome).toMatch(/terminat/i);
        await db.start();
        // The pool carries on with a new connection.
        const { rows } = await pool.query<{ n: number }>('SELECT 1 AS n');
        expect(rows[0]!.n).toBe(1);
      } finally {
        if (!(await db.running())) await db.start();
        await pool.end();
      }
    },
    30_000,
  );
});
