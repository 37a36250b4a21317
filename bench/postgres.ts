/**
 * `npm run bench:postgres [-- --workers 1,2,4] [-- --soak-minutes 10] [-- --quick]`: Tidings on
 * PostgreSQL with one `tidings api` process and N `tidings worker` processes, each scenario on a
 * database of its own. Measures end-to-end in-app deliveries per second for each N (the scaling
 * curve), and optionally a soak run that reports every minute, to show throughput does not decay
 * as the queue churns. Needs PostgreSQL (TIDINGS_BENCH_POSTGRES_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres); writes bench/results/postgres-*.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { machineInfo } from './report.ts';
import { API_KEY, childEnv, freePort, REPO_ROOT, track } from './server.ts';
import { fmt, round, sleep } from './stats.ts';

const ADMIN_URL = process.env.TIDINGS_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BULK_SIZE = 1000;
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };

interface Args {
  workers: number[];
  members: number;
  events: number;
  soakMinutes: number;
  soakWorkers: number;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    workers: (value('--workers') ?? (quick ? '1,2' : '1,2,4')).split(',').map(Number),
    members: Number(value('--members') ?? (quick ? 5_000 : 50_000)),
    events: Number(value('--events') ?? (quick ? 5_000 : 50_000)),
    soakMinutes: Number(value('--soak-minutes') ?? 0),
    soakWorkers: Number(value('--soak-workers') ?? 2),
  };
}

/** A database of its own for one scenario, dropped afterwards. */
async function withDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `tidings_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/** Spawns `tidings <role>`; its output goes to a log file in `dir`. */
function spawnRole(role: string, env: Record<string, string>, dir: string, label: string): ChildProcess {
  const child = spawn(process.execPath, [path.join('bin', 'tidings.mjs'), role], {
    cwd: REPO_ROOT,
    env: childEnv({ TIDINGS_LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(path.join(dir, `${label}.log`));
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  track(child);
  return child;
}

async function stopAll(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          setTimeout(() => p.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
}

async function call(base: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${route} → ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

async function waitHealthy(base: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited during start-up (${child.exitCode})`);
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${base} not ready after 60 s`);
}

/** One api and `workers` worker processes on a fresh database. */
async function withCluster<T>(
  workers: number,
  work: (c: { base: string; db: pg.Pool; procs: ChildProcess[] }) => Promise<T>,
): Promise<T> {
  return withDatabase(async (url) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tidings-bench-pg-'));
    const db = new pg.Pool({ connectionString: url, max: 2 });
    const procs: ChildProcess[] = [];
    try {
      const port = await freePort();
      // Every process sharing a PostgreSQL database must be given the same master secret.
      const env = {
        TIDINGS_DATABASE_URL: url,
        TIDINGS_API_KEY: API_KEY,
        TIDINGS_DATA_DIR: dir,
        TIDINGS_SECRET: 'bench-master-secret-0123456789abcdef',
      };
      const api = spawnRole(
        'api',
        { ...env, TIDINGS_PORT: String(port), TIDINGS_HOST: '127.0.0.1' },
        dir,
        'api',
      );
      procs.push(api);
      const base = `http://127.0.0.1:${port}`;
      await waitHealthy(base, api);
      for (let i = 0; i < workers; i++) {
        const workerPort = await freePort();
        const worker = spawnRole(
          'worker',
          { ...env, TIDINGS_WORKER_PORT: String(workerPort) },
          dir,
          `worker-${i}`,
        );
        procs.push(worker);
        await waitHealthy(`http://127.0.0.1:${workerPort}`, worker);
      }
      await call(base, 'PUT', '/v1/workflows/bench', {
        channels: [
          { channel: 'in_app', template: { title: 'Hi {{ data.n }}', body: 'Order {{ data.order }}' } },
        ],
      });
      return await work({ base, db, procs });
    } finally {
      await stopAll(procs);
      await db.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function inboxRows(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM messages WHERE channel = 'in_app'`,
  );
  return Number(rows[0]!.n);
}

/** Polls until `expected` inbox rows exist; answers the ms from `since`, printing progress. */
async function waitForRows(db: pg.Pool, expected: number, since: number, label: string): Promise<number> {
  let last = 0;
  for (;;) {
    const n = await inboxRows(db);
    if (n >= expected) return performance.now() - since;
    if (performance.now() - last > 2000) {
      last = performance.now();
      process.stdout.write(`    ${label}: ${fmt(n)}/${fmt(expected)} inbox rows\n`);
    }
    if (performance.now() - since > 600_000)
      throw new Error(`${label}: only ${n}/${expected} rows after 10 min`);
    // A count scans the table: often enough for a tenth of a second's accuracy, rarely enough to cost little.
    await sleep(250);
  }
}

function bulkBody(first: number, count: number, subscribers: number, phase: string) {
  const events = [];
  for (let i = first; i < first + count; i++) {
    events.push({
      workflow: 'bench',
      to: [`user_${i % subscribers}`],
      data: { n: i, order: `B-${i}` },
      idempotencyKey: `${phase}-${i}`,
    });
  }
  return { events };
}

async function sendBulk(base: string, total: number, subscribers: number, phase: string, senders = 4) {
  let next = 0;
  const sender = async () => {
    while (next < total) {
      const first = next;
      next += BULK_SIZE;
      await call(
        base,
        'POST',
        '/v1/events/bulk',
        bulkBody(first, Math.min(BULK_SIZE, total - first), subscribers, phase),
      );
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
}

async function scalingRun(workers: number, args: Args) {
  console.log(`\n[scaling] 1 api + ${workers} worker process(es)`);
  return withCluster(workers, async ({ base, db }) => {
    await call(base, 'PUT', '/v1/topics/all', {});
    for (let first = 0; first < args.members; first += 10_000) {
      const ids = Array.from(
        { length: Math.min(10_000, args.members - first) },
        (_, i) => `user_${first + i}`,
      );
      await call(base, 'POST', '/v1/topics/all/subscribers', { subscriberIds: ids });
    }
    const topicStart = performance.now();
    await call(base, 'POST', '/v1/events', {
      workflow: 'bench',
      to: [{ topic: 'all' }],
      data: { n: 0, order: 'T' },
    });
    const topicMs = await waitForRows(db, args.members, topicStart, 'topic');
    const topicRate = (args.members / topicMs) * 1000;
    console.log(
      `  topic: ${fmt(args.members)} deliveries in ${fmt(topicMs / 1000, 2)} s = ${fmt(topicRate)}/s`,
    );

    const bulkStart = performance.now();
    await sendBulk(base, args.events, args.members, 'scale');
    const acceptedMs = performance.now() - bulkStart;
    const bulkMs = await waitForRows(db, args.members + args.events, bulkStart, 'bulk');
    const bulkRate = (args.events / bulkMs) * 1000;
    console.log(
      `  one-recipient events: ${fmt(args.events)} accepted in ${fmt(acceptedMs / 1000, 2)} s, delivered in ${fmt(bulkMs / 1000, 2)} s = ${fmt(bulkRate)}/s`,
    );
    return {
      workers,
      topicDeliveriesPerSecond: round(topicRate, 0),
      oneRecipientDeliveriesPerSecond: round(bulkRate, 0),
      bulkAcceptedPerSecond: round((args.events / acceptedMs) * 1000, 0),
    };
  });
}

/** Messages inserted so far, from the statistics (cheap, about a second behind). */
async function messagesInserted(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT n_tup_ins AS n FROM pg_stat_user_tables WHERE relname = 'messages'`,
  );
  return Number(rows[0]!.n);
}

/**
 * Closed loop for `minutes`: keeps at most `maxBacklog` ready jobs queued and records, per
 * minute, deliveries, the ready backlog and the jobs table's dead tuples and size.
 */
async function soakRun(args: Args) {
  const maxBacklog = 5_000;
  console.log(`\n[soak] ${args.soakMinutes} min, 1 api + ${args.soakWorkers} workers`);
  return withCluster(args.soakWorkers, async ({ base, db }) => {
    const subscribers = 10_000;
    const minutes: Record<string, number>[] = [];
    let sent = 0;
    let stop = false;
    const readyJobs = async () =>
      Number(
        (await db.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE state = 'ready'`)).rows[0]!.n,
      );
    const sender = async () => {
      while (!stop) {
        if ((await readyJobs()) > maxBacklog) {
          await sleep(50);
          continue;
        }
        const first = sent;
        sent += BULK_SIZE;
        await call(base, 'POST', '/v1/events/bulk', bulkBody(first, BULK_SIZE, subscribers, 'soak'));
      }
    };
    const senders = [sender(), sender()];
    let before = await messagesInserted(db);
    for (let m = 1; m <= args.soakMinutes; m++) {
      await sleep(60_000);
      const delivered = await messagesInserted(db);
      const { rows } = await db.query<{ dead: string; live: string; bytes: string; ready: string }>(
        `SELECT n_dead_tup AS dead, n_live_tup AS live, pg_total_relation_size('jobs') AS bytes,
                (SELECT count(*) FROM jobs WHERE state = 'ready') AS ready
           FROM pg_stat_user_tables WHERE relname = 'jobs'`,
      );
      const row = {
        minute: m,
        deliveriesPerSecond: round((delivered - before) / 60, 0),
        readyJobs: Number(rows[0]!.ready),
        jobsDeadTuples: Number(rows[0]!.dead),
        jobsTableMiB: round(Number(rows[0]!.bytes) / 2 ** 20, 1),
      };
      before = delivered;
      minutes.push(row);
      console.log(
        `  minute ${m}: ${fmt(row.deliveriesPerSecond)}/s, ready jobs ${fmt(row.readyJobs)}, jobs dead tuples ${fmt(row.jobsDeadTuples)}, jobs table ${row.jobsTableMiB} MiB`,
      );
    }
    stop = true;
    await Promise.all(senders);
    return minutes;
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date().toISOString();
  const scaling = [];
  for (const workers of args.workers) scaling.push(await scalingRun(workers, args));
  const soak = args.soakMinutes > 0 ? await soakRun(args) : null;

  console.log('\nworkers | topic deliveries/s | one-recipient deliveries/s | bulk accepted/s');
  for (const r of scaling)
    console.log(
      `${String(r.workers).padStart(7)} | ${fmt(r.topicDeliveriesPerSecond).padStart(18)} | ${fmt(r.oneRecipientDeliveriesPerSecond).padStart(26)} | ${fmt(r.bulkAcceptedPerSecond).padStart(15)}`,
    );
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `postgres-${started.replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ started, machine: machineInfo(), args, scaling, soak }, null, 2)}\n`,
  );
  console.log(`\nResults: ${path.relative(REPO_ROOT, file)}`);
}

await main();
