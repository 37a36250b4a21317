import type Database from 'better-sqlite3';
import type { Pool } from 'undici';
import { failover } from './failover.ts';
import { inboxWs } from './inbox-ws.ts';
import { closedLoop, type LoadResult, type Outcome, openLoop } from './load.ts';
import {
  cpuRow,
  type E2eVariant,
  e2eVariants,
  holdsPreferences,
  inAppStatuses,
  policyCheckRows,
  preparePolicy,
  ratioRows,
  type VariantKey,
} from './policy.ts';
import { priority } from './priority.ts';
import { push } from './push.ts';
import type { Target } from './report.ts';
import { retention } from './retention.ts';
import { type BenchServer, JSON_HEADERS } from './server.ts';
import { fmt, round, sleep, summarize } from './stats.ts';
import { workerOnly } from './worker-only.ts';

export interface BenchOptions {
  quick: boolean;
  /** Write a CPU profile of each server (`--cpu-prof`) under this folder; null = no profiling. */
  profileRoot: string | null;
  keep: boolean;
  tmpRoot?: string;
  /** Create the subscribers events are sent to before each scenario (else the first event creates each). */
  knownSubscribers: boolean;
  /** Extra TIDINGS_* settings for every server (`--env NAME=VALUE`). */
  serverEnv: Record<string, string>;
  /** Run e2e-topic and e2e-bulk also with policy, back to back (bench/policy.ts). */
  policy: boolean;
  /** Events name their recipient inline with an email (`{"subscriberId", "email"}`), not by id. */
  inlineEmails: boolean;
  /** `--localized`: the bench workflow takes the localized render path (bench/server.ts). */
  localized: boolean;
}

export interface ScenarioContext {
  options: BenchOptions;
  /** Starts a fresh server, runs `fn`, stops the server (always) and records how it went. */
  withServer<T>(
    name: string,
    fn: (server: BenchServer) => Promise<T>,
    env?: Record<string, string>,
  ): Promise<T>;
  row(metric: string, value: number, unit: string, target?: Target, note?: string): void;
  detail(key: string, value: unknown): void;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  description: string;
  run(ctx: ScenarioContext): Promise<void>;
}

/** Events go to `user_${i % SUBSCRIBERS}`. */
export const SUBSCRIBERS = 10_000;
const BULK_SIZE = 1000;

let inlineEmails = false;

/**
 * `--inline-emails`: every event names its recipient inline with an email address, so ingest
 * seals it (into the subscriber row and the stored event) and deliveries load a sealed subscriber
 * (docs/personal-data.md). Set once, before the scenarios run.
 */
export function sendInlineEmails(on: boolean): void {
  inlineEmails = on;
}

/** One event to one subscriber, as the single and bulk endpoints take it. */
function eventJson(i: number, phase = 'measure'): string {
  const id = `user_${i % SUBSCRIBERS}`;
  const to = inlineEmails ? `{"subscriberId":"${id}","email":"${id}@bench.example.com"}` : `"${id}"`;
  return `{"workflow":"bench","to":[${to}],"data":{"n":${i},"order":"A-${i}","phase":"${phase}"}}`;
}

function bulkJson(first: number, count = BULK_SIZE): string {
  const events: string[] = [];
  for (let i = first; i < first + count; i++) events.push(eventJson(i));
  return `{"events":[${events.join(',')}]}`;
}

async function postEvent(pool: Pool, body: string): Promise<Outcome> {
  const res = await pool.request({ path: '/v1/events', method: 'POST', headers: JSON_HEADERS, body });
  if (res.statusCode === 202) {
    await res.body.dump();
    return { status: 202, units: 1 };
  }
  const text = await res.body.text();
  return { status: res.statusCode, units: 0, note: text.slice(0, 200) };
}

/** Posts one bulk body; the answer lists one result per event, errors as `{"error": …}`. */
async function postBulk(pool: Pool, body: string, count: number): Promise<Outcome> {
  const res = await pool.request({ path: '/v1/events/bulk', method: 'POST', headers: JSON_HEADERS, body });
  const text = await res.body.text();
  if (res.statusCode !== 202) return { status: res.statusCode, units: 0, note: text.slice(0, 200) };
  const rejected = text.split('"error":').length - 1;
  return { status: 202, units: count - rejected, rejected };
}

function unexpectedTotal(result: { unexpected: Record<string, number> }): number {
  return Object.values(result.unexpected).reduce((a, b) => a + b, 0);
}

function loadDetails(result: LoadResult) {
  return {
    windowMs: result.windowMs,
    requests: result.requests,
    eventsAccepted: result.units,
    eventsRejected: result.rejectedUnits,
    eventsPerSecond: round(result.units / (result.windowMs / 1000), 1),
    latencyMs: roundSummary(result.latency),
    unexpected: result.unexpected,
    samples: result.samples,
  };
}

function roundSummary<T extends object>(summary: T): T {
  return Object.fromEntries(
    Object.entries(summary).map(([k, v]) => [k, typeof v === 'number' ? round(v, 3) : v]),
  ) as T;
}

interface Completion {
  reached: boolean;
  count: number;
  /** ms from `startedAt` until the count was seen at or above `target`. */
  elapsedMs: number;
}

/** Polls the inbox row count (read-only SQLite) every `everyMs` until it reaches `target`. */
async function waitForInbox(
  server: BenchServer,
  target: number,
  startedAt: number,
  timeoutMs: number,
  log: (message: string) => void,
  abort?: AbortSignal,
  everyMs = 50,
): Promise<Completion> {
  let lastLog = performance.now();
  for (;;) {
    if (abort?.aborted) return { reached: false, count: 0, elapsedMs: performance.now() - startedAt };
    const count = server.inAppCount();
    const now = performance.now();
    if (count >= target) return { reached: true, count, elapsedMs: now - startedAt };
    if (now - startedAt > timeoutMs) return { reached: false, count, elapsedMs: now - startedAt };
    if (now - lastLog >= 1_000) {
      lastLog = now;
      log(`${fmt((now - startedAt) / 1000, 1)} s: ${fmt(count)} / ${fmt(target)} inbox rows`);
    }
    await sleep(everyMs);
  }
}

/**
 * The inbox rows' own `created_at` (server clock, epoch ms). It is taken when the worker starts
 * building a delivery batch, a little before that batch commits, so it runs slightly early.
 */
function inboxSpan(server: BenchServer): { first: number; last: number; rows: number } {
  const row = server
    .db()
    .prepare(
      `SELECT MIN(created_at) AS first, MAX(created_at) AS last, COUNT(*) AS rows FROM messages WHERE channel = 'in_app'`,
    )
    .get() as { first: number; last: number; rows: number };
  return row;
}

// --- (a) single-endpoint ingest -------------------------------------------------------------

const ingest: Scenario = {
  name: 'ingest',
  description: 'POST /v1/events with N concurrent closed-loop clients (one event, one subscriber each)',
  async run(ctx) {
    const { quick } = ctx.options;
    const warmupMs = quick ? 500 : 2_000;
    const durationMs = quick ? 3_000 : 10_000;
    for (const concurrency of [32, 64]) {
      const label = `c=${concurrency}`;
      await ctx.withServer(`ingest-c${concurrency}`, async (server) => {
        ctx.log(`${label}: ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s measured`);
        const pool = server.pool(concurrency);
        const result = await closedLoop({
          label,
          concurrency,
          warmupMs,
          durationMs,
          expectStatus: 202,
          unit: 'events',
          send: (i) => postEvent(pool, eventJson(i)),
        });
        const rate = result.units / (durationMs / 1000);
        const delivered = server.inAppCount();
        const jobs = server.jobCounts();
        ctx.log(
          `${label}: ${fmt(result.units)} accepted (${fmt(rate)}/s), p50 ${fmt(result.latency.p50, 2)} ms, ` +
            `p99 ${fmt(result.latency.p99, 2)} ms; ${fmt(delivered)} inbox rows written meanwhile, ` +
            `jobs left ${JSON.stringify(jobs)}`,
        );
        ctx.row(`${label} accepted`, rate, 'events/s', { op: '>=', value: 5_000 });
        ctx.row(`${label} latency p50`, result.latency.p50, 'ms');
        ctx.row(`${label} latency p99`, result.latency.p99, 'ms');
        ctx.row(`${label} non-202 answers`, unexpectedTotal(result), '', { op: '==', value: 0 });
        ctx.row(`${label} inbox rows written meanwhile`, delivered, '', undefined, 'incl. warm-up');
        ctx.detail(label, { ...loadDetails(result), inboxRowsAtEnd: delivered, jobsAtEnd: jobs });
      });
    }
  },
};

// --- (a') bulk ingest ----------------------------------------------------------------------

const bulk: Scenario = {
  name: 'bulk',
  description: 'POST /v1/events/bulk with K concurrent clients, 1000 events per body',
  async run(ctx) {
    const { quick } = ctx.options;
    const warmupMs = quick ? 500 : 2_000;
    const durationMs = quick ? 3_000 : 10_000;
    const concurrency = 4;
    // Ten distinct bodies cover all 10,000 subscribers; building them once keeps the client cheap.
    const bodies = Array.from({ length: 10 }, (_, b) => bulkJson(b * BULK_SIZE));
    await ctx.withServer('bulk', async (server) => {
      const label = `K=${concurrency}`;
      ctx.log(`${label} × ${BULK_SIZE} events/body: ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s`);
      const pool = server.pool(concurrency);
      const result = await closedLoop({
        label,
        concurrency,
        warmupMs,
        durationMs,
        expectStatus: 202,
        unit: 'events',
        send: (i) => postBulk(pool, bodies[i % bodies.length]!, BULK_SIZE),
      });
      const rate = result.units / (durationMs / 1000);
      const delivered = server.inAppCount();
      ctx.log(
        `${label}: ${fmt(result.units)} events accepted (${fmt(rate)}/s) in ${fmt(result.requests)} requests, ` +
          `request p50 ${fmt(result.latency.p50, 1)} ms, p99 ${fmt(result.latency.p99, 1)} ms; ` +
          `${fmt(delivered)} inbox rows written meanwhile`,
      );
      ctx.row(`${label} accepted`, rate, 'events/s', { op: '>=', value: 50_000 });
      ctx.row(`${label} request p50`, result.latency.p50, 'ms');
      ctx.row(`${label} request p99`, result.latency.p99, 'ms');
      ctx.row(`${label} inbox rows written meanwhile`, delivered, '', undefined, 'incl. warm-up');
      ctx.row(`${label} rejected + non-202`, result.rejectedUnits + unexpectedTotal(result), '', {
        op: '==',
        value: 0,
      });
      ctx.detail(label, { ...loadDetails(result), inboxRowsAtEnd: delivered, jobsAtEnd: server.jobCounts() });
    });
  },
};

// --- (b) end-to-end in-app deliveries ------------------------------------------------------

/** Answers the deliveries/s (every recipient's in-app row, whatever its status, per second). */
function e2eRows(
  ctx: ScenarioContext,
  server: BenchServer,
  variant: E2eVariant,
  total: number,
  sendStartEpoch: number,
  done: Completion,
  extra: Record<string, unknown>,
): number {
  const span = inboxSpan(server);
  const rate = done.count / (done.elapsedMs / 1000);
  // By the rows' own created_at (no polling granularity, but a little early: see inboxSpan).
  const serverMs = span.last - sendStartEpoch;
  const statuses = inAppStatuses(server);
  ctx.log(
    `${done.reached ? 'done' : 'TIMED OUT'}: ${fmt(done.count)} / ${fmt(total)} inbox rows in ` +
      `${fmt(done.elapsedMs / 1000, 2)} s → ${fmt(rate)} deliveries/s ` +
      `(by the rows' created_at: ${fmt(serverMs / 1000, 2)} s); by status ${JSON.stringify(statuses)}`,
  );
  const suffix = variant.rowSuffix;
  ctx.row(
    `deliveries${suffix}`,
    rate,
    'deliveries/s',
    // A run whose limit drops messages has less to write: it is reported, not held to the target.
    variant.key === 'policy-drops' ? undefined : { op: '>=', value: 25_000 },
    done.reached ? undefined : 'timed out',
  );
  ctx.row(`first send → all inbox rows${suffix}`, done.elapsedMs / 1000, 's');
  ctx.detail(variant.key === 'plain' ? 'result' : `result ${variant.key}`, {
    total,
    reached: done.reached,
    inboxRows: done.count,
    inAppByStatus: statuses,
    elapsedMs: round(done.elapsedMs, 1),
    deliveriesPerSecond: round(rate, 1),
    firstRowAfterMs: span.first - sendStartEpoch,
    lastRowAfterMs: serverMs,
    deliveriesPerSecondByRowTimestamps: round((span.rows / Math.max(1, serverMs)) * 1000, 1),
    jobsAtEnd: server.jobCounts(),
    ...extra,
  });
  return rate;
}

/** Logs where the server's CPU went since `before` (BenchServer.threadCpuMs), busiest thread first. */
function logThreadCpu(ctx: ScenarioContext, server: BenchServer, before: Map<string, number> | null): void {
  const now = server.threadCpuMs();
  if (!before || !now) return;
  const used = [...now]
    .map(([thread, ms]) => [thread, ms - (before.get(thread) ?? 0)] as const)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1]);
  ctx.log(`server CPU by thread: ${used.map(([thread, ms]) => `${thread} ${fmt(ms)} ms`).join(', ')}`);
}

/** The server's CPU (ms) since `before` was read, or null where /proc cannot say. */
function cpuSince(server: BenchServer, before: number | null): number | null {
  const now = server.cpuMs();
  return before === null || now === null ? null : now - before;
}

const e2eTopic: Scenario = {
  name: 'e2e-topic',
  description: 'one event to a topic; time from the POST until every member has an inbox row',
  async run(ctx) {
    const members = ctx.options.quick ? 10_000 : 100_000;
    const rates = new Map<VariantKey, number>();
    const cpus = new Map<VariantKey, number | null>();
    for (const variant of e2eVariants(ctx.options.policy)) {
      await ctx.withServer(`e2e-topic${variant.serverSuffix}`, async (server) => {
        await server.api('PUT', '/v1/topics/all', {});
        const setupStart = performance.now();
        const holders: { index: number; id: string }[] = [];
        for (let first = 0; first < members; first += 10_000) {
          const ids: string[] = [];
          for (let i = first; i < Math.min(members, first + 10_000); i++) {
            ids.push(`member_${i}`);
            if (holdsPreferences(i)) holders.push({ index: i, id: `member_${i}` });
          }
          await server.api('POST', '/v1/topics/all/subscribers', { subscriberIds: ids });
        }
        const setupMs = performance.now() - setupStart;
        ctx.log(`topic "all" has ${fmt(members)} members (added in ${fmt(setupMs / 1000, 1)} s)`);
        const memberIndexes = {
          *[Symbol.iterator]() {
            for (let i = 0; i < members; i++) yield i;
          },
        };
        const expected = await preparePolicy(ctx, server, variant.key, holders, memberIndexes, members);
        const sendStartEpoch = Date.now();
        const startedAt = performance.now();
        const cpuBefore = server.cpuMs();
        const threadsBefore = server.threadCpuMs();
        await server.api('POST', '/v1/events', {
          workflow: 'bench',
          to: [{ topic: 'all' }],
          data: { n: 1, order: 'T-1', phase: 'measure' },
        });
        const acceptedMs = performance.now() - startedAt;
        const done = await waitForInbox(
          server,
          members,
          startedAt,
          ctx.options.quick ? 30_000 : 60_000,
          ctx.log,
        );
        const rate = e2eRows(ctx, server, variant, members, sendStartEpoch, done, {
          members,
          topicSetupMs: round(setupMs, 1),
          acceptedAfterMs: round(acceptedMs, 2),
        });
        cpus.set(variant.key, cpuRow(ctx, variant, cpuSince(server, cpuBefore), done.count));
        logThreadCpu(ctx, server, threadsBefore);
        policyCheckRows(ctx, variant, expected, inAppStatuses(server));
        rates.set(variant.key, rate);
      });
    }
    ratioRows(ctx, rates, cpus);
  },
};

const e2eBulk: Scenario = {
  name: 'e2e-bulk',
  description: 'bulk events (one subscriber each); time from the first POST until every inbox row exists',
  async run(ctx) {
    const total = ctx.options.quick ? 10_000 : 100_000;
    const senders = 4;
    const variants = e2eVariants(ctx.options.policy);
    const rates = new Map<VariantKey, number>();
    const cpus = new Map<VariantKey, number | null>();
    // Event i goes to user_{i % SUBSCRIBERS}: the holders are among those.
    const holders: { index: number; id: string }[] = [];
    for (let k = 0; k < Math.min(total, SUBSCRIBERS); k++)
      if (holdsPreferences(k)) holders.push({ index: k, id: `user_${k}` });
    const recipients = {
      *[Symbol.iterator]() {
        for (let i = 0; i < total; i++) yield i % SUBSCRIBERS;
      },
    };
    for (const variant of variants) {
      await ctx.withServer(`e2e-bulk${variant.serverSuffix}`, async (server) => {
        // When runs are compared, every one of them starts with the holders created, so the
        // policy runs differ from the plain one only in the preferences and the limit.
        if (variants.length > 1) {
          await server.addTopicMembers(
            'bench-seed',
            holders.map((h) => h.id),
          );
        }
        const expected = await preparePolicy(ctx, server, variant.key, holders, recipients, total);
        const pool = server.pool(senders);
        const bodies = total / BULK_SIZE;
        ctx.log(`${fmt(total)} events in ${bodies} bulk bodies over ${senders} connections`);
        let nextBody = 0;
        let rejected = 0;
        const sendStartEpoch = Date.now();
        const startedAt = performance.now();
        const cpuBefore = server.cpuMs();
        const sender = async () => {
          while (nextBody < bodies) {
            const b = nextBody++;
            const outcome = await postBulk(pool, bulkJson(b * BULK_SIZE), BULK_SIZE);
            if (outcome.status !== 202)
              throw new Error(`bulk POST answered ${outcome.status}: ${outcome.note ?? ''}`);
            rejected += outcome.rejected ?? 0;
          }
        };
        const abort = new AbortController();
        const polling = waitForInbox(
          server,
          total,
          startedAt,
          ctx.options.quick ? 30_000 : 60_000,
          ctx.log,
          abort.signal,
        );
        try {
          await Promise.all(Array.from({ length: senders }, sender));
        } catch (error) {
          abort.abort();
          await polling;
          throw error;
        }
        const ingestMs = performance.now() - startedAt;
        ctx.log(`all ${fmt(total)} accepted after ${fmt(ingestMs / 1000, 2)} s (${fmt(rejected)} rejected)`);
        const done = await polling;
        const rate = e2eRows(ctx, server, variant, total, sendStartEpoch, done, {
          eventsRejected: rejected,
          ingestMs: round(ingestMs, 1),
          ingestEventsPerSecond: round((total / ingestMs) * 1000, 1),
        });
        cpus.set(variant.key, cpuRow(ctx, variant, cpuSince(server, cpuBefore), done.count));
        policyCheckRows(ctx, variant, expected, inAppStatuses(server));
        rates.set(variant.key, rate);
      });
    }
    ratioRows(ctx, rates, cpus);
  },
};

// --- (c) latency from 202 to inbox row at a steady rate -------------------------------------

/**
 * Watches new inbox rows as they become visible (read-only SQLite, by rowid, every ~`everyMs`)
 * and remembers when each event's row was first seen (performance.now() of the bench).
 */
class InboxWatcher {
  readonly seen = new Map<string, number>();
  private lastRowid = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly newer: Database.Statement;
  polls = 0;

  constructor(
    server: BenchServer,
    private readonly everyMs = 2,
  ) {
    this.newer = server
      .db()
      .prepare(
        `SELECT rowid AS r, event_id AS e FROM messages WHERE rowid > ? AND channel = 'in_app' ORDER BY rowid`,
      )
      .raw();
  }

  start(): void {
    const tick = () => {
      this.poll();
      this.timer = setTimeout(tick, this.everyMs);
    };
    tick();
  }

  poll(): void {
    this.polls++;
    const rows = this.newer.all(this.lastRowid) as [number, string][];
    const now = performance.now();
    for (const [rowid, eventId] of rows) {
      this.lastRowid = rowid;
      if (!this.seen.has(eventId)) this.seen.set(eventId, now);
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.poll();
  }
}

/** Posts one event and answers when the 202 arrived, with the event id it names. */
async function postEventTimed(pool: Pool, body: string, accepted: Map<string, number>): Promise<Outcome> {
  const res = await pool.request({ path: '/v1/events', method: 'POST', headers: JSON_HEADERS, body });
  const text = await res.body.text();
  if (res.statusCode !== 202) return { status: res.statusCode, units: 0, note: text.slice(0, 200) };
  accepted.set((JSON.parse(text) as { eventId: string }).eventId, performance.now());
  return { status: 202, units: 1 };
}

const latency: Scenario = {
  name: 'latency',
  description: 'events at a fixed 500/s (open loop); server-side time from acceptance to the inbox row',
  async run(ctx) {
    const { quick } = ctx.options;
    const rate = 500;
    const warmupMs = quick ? 1_000 : 2_000;
    const durationMs = quick ? 5_000 : 15_000;
    await ctx.withServer('latency', async (server) => {
      ctx.log(`${rate} events/s: ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s measured`);
      const pool = server.pool(32);
      const accepted = new Map<string, number>();
      const watcher = new InboxWatcher(server);
      watcher.start();
      const result = await openLoop({
        label: `${rate}/s`,
        rate,
        warmupMs,
        durationMs,
        expectStatus: 202,
        send: (i, measured) =>
          measured
            ? postEventTimed(pool, eventJson(i, 'measure'), accepted)
            : postEvent(pool, eventJson(i, 'warmup')),
      });
      const everything = result.ok + Math.round((warmupMs / 1000) * rate);
      const done = await waitForInbox(server, everything, performance.now(), 30_000, ctx.log);
      watcher.stop();
      // Seen by the bench: 202 received → row visible to a reader (≤ one poll late). A row already
      // visible when the 202 arrived counts as 0.
      const observedMs: number[] = [];
      let rowFirst = 0;
      for (const [eventId, at] of accepted) {
        const seenAt = watcher.seen.get(eventId);
        if (seenAt === undefined) continue;
        if (seenAt <= at) rowFirst++;
        observedMs.push(Math.max(0, seenAt - at));
      }
      const observed = summarize(observedMs);
      // Both timestamps are the server's Date.now(): events.created_at is taken when the request is
      // accepted (just before its commit and 202), messages.created_at when the inbox row is built.
      const latencies = server
        .db()
        .prepare(
          `SELECT m.created_at - e.created_at
             FROM events e JOIN messages m ON m.tenant_id = e.tenant_id AND m.event_id = e.id
            WHERE m.channel = 'in_app' AND json_extract(e.payload, '$.data.phase') = 'measure'`,
        )
        .pluck()
        .all() as number[];
      const server202 = summarize(latencies);
      ctx.log(
        `sent ${fmt(result.sent)} at ${fmt(result.rate, 1)}/s, ${fmt(result.ok)} accepted; ` +
          `${fmt(latencies.length)} inbox rows matched: p50 ${server202.p50} ms, p95 ${server202.p95} ms, ` +
          `p99 ${server202.p99} ms, max ${server202.max} ms` +
          (done.reached ? '' : ' (not all rows arrived in time)'),
      );
      ctx.log(
        `observed by the bench (202 received → row visible, polled every ~2 ms): p50 ${fmt(observed.p50, 2)} ms, ` +
          `p99 ${fmt(observed.p99, 2)} ms, max ${fmt(observed.max, 2)} ms; ` +
          `${fmt(rowFirst)} rows were visible before their 202 arrived`,
      );
      ctx.row('achieved rate', result.rate, 'events/s');
      ctx.row('202 → inbox row p50', server202.p50, 'ms');
      ctx.row('202 → inbox row p95', server202.p95, 'ms');
      ctx.row('202 → inbox row p99', server202.p99, 'ms', { op: '<=', value: 10 });
      ctx.row('202 → inbox row max', server202.max, 'ms');
      ctx.row('observed 202 → row visible p50', observed.p50, 'ms', undefined, 'bench polls ~2 ms');
      ctx.row(
        'observed 202 → row visible p99',
        observed.p99,
        'ms',
        { op: '<=', value: 10 },
        'bench polls ~2 ms',
      );
      ctx.row('client: scheduled send → 202 p50', result.latency.p50, 'ms');
      ctx.row('client: scheduled send → 202 p99', result.latency.p99, 'ms');
      ctx.row('events without inbox row', result.ok - latencies.length, '', { op: '==', value: 0 });
      ctx.detail('result', {
        rate,
        achievedRate: round(result.rate, 2),
        sent: result.sent,
        accepted: result.ok,
        unexpected: result.unexpected,
        samples: result.samples,
        maxInFlight: result.maxInFlight,
        maxScheduleLagMs: round(result.maxLagMs, 2),
        clientScheduledTo202Ms: roundSummary(result.latency),
        acceptedToInboxRowMs: roundSummary(server202),
        inboxRowsMatched: latencies.length,
        observed202ToRowVisibleMs: roundSummary(observed),
        observedRowsVisibleBefore202: rowFirst,
        watcherPolls: watcher.polls,
      });
    });
  },
};

export const SCENARIOS: Scenario[] = [
  ingest,
  bulk,
  e2eTopic,
  e2eBulk,
  latency,
  priority,
  retention,
  push,
  inboxWs,
  workerOnly,
  failover,
];
