import { openLoop } from './load.ts';
import {
  type CriticalRow,
  createWorkflows,
  criticalJson,
  criticalRows,
  latencies,
  P99_TARGET_MS,
  postCritical,
  RATE,
  roundSummary,
  sentCount,
  stages,
  stageText,
  unexpectedTotal,
  until,
} from './priority.ts';
import type { Scenario, ScenarioContext } from './scenarios.ts';
import type { BenchServer } from './server.ts';
import { fmt, round } from './stats.ts';

/**
 * Critical mail while the retention sweep deletes (issue 15: "measure the critical-lane p99 while
 * a sweep runs"). The server runs with TIDINGS_RETENTION=20s, so its sweep runs every 20 s and
 * deletes what is older. Critical events (as in `priority`: one sandbox email each, 50/s) are
 * measured (a) alone, then (c) from the moment a broadcast's rows (one event to a topic of 50,000,
 * its inbox rows and their inbox change log) have aged past the retention until the sweep has
 * deleted them all: the sweep's window is when the first of those rows goes until the last is gone.
 * Critical rows expire too, 20 s after they were written, so their timelines are read as the run
 * goes (every 500 ms) rather than at its end.
 */

const RETENTION = '20s';
const RETENTION_MS = 20_000;
/** Phase (c) numbers its events from here, so they never repeat phase (a)'s `data.n`. */
const SWEEP_FIRST = 2_000_000;

/** The critical rows seen so far, by event id: rows the sweep deletes later stay measured. */
class CriticalLog {
  readonly rows = new Map<string, CriticalRow>();
  sent(phase: CriticalRow['phase']): number {
    let n = 0;
    for (const row of this.rows.values()) if (row.phase === phase && row.sentAt !== null) n++;
    return n;
  }
  read(server: BenchServer): void {
    for (const row of criticalRows(server)) {
      const known = this.rows.get(row.eventId);
      if (!known || (known.sentAt === null && row.sentAt !== null)) this.rows.set(row.eventId, row);
    }
  }
}

/**
 * Where the broadcast's rows are, to see the sweep take them: its messages by rowid, the inbox
 * change log (WITHOUT ROWID; only the broadcast writes to it here) by its indexed created_at.
 */
interface Broadcast {
  messages: { first: number; last: number; total: number };
  changes: { first: number; last: number; total: number };
}

function broadcastRows(server: BenchServer): Broadcast {
  const range = (sql: string) =>
    server.db().prepare(sql).get() as { first: number; last: number; total: number };
  return {
    messages: range(
      `SELECT MIN(rowid) AS first, MAX(rowid) AS last, COUNT(*) AS total FROM messages WHERE workflow = 'broadcast'`,
    ),
    changes: range(
      'SELECT MIN(created_at) AS first, MAX(created_at) AS last, COUNT(*) AS total FROM inbox_changes',
    ),
  };
}

/** The broadcast's rows still there. */
function left(server: BenchServer, b: Broadcast): number {
  const count = (table: string, column: string, r: Broadcast['messages']) =>
    server
      .db()
      .prepare(`SELECT COUNT(*) FROM ${table} WHERE ${column} BETWEEN ? AND ?`)
      .pluck()
      .get(r.first, r.last) as number;
  return count('messages', 'rowid', b.messages) + count('inbox_changes', 'created_at', b.changes);
}

async function measure(ctx: ScenarioContext, server: BenchServer): Promise<void> {
  const { quick } = ctx.options;
  const members = quick ? 10_000 : 50_000;
  const log = new CriticalLog();
  await createWorkflows(server);
  await server.createSubscribers(members, 'member_', 'all');
  const pool = server.pool(16);

  ctx.log(`(a) ${RATE} critical events/s alone: 1 s warm-up + 10 s`);
  const alone = await openLoop({
    label: 'critical alone',
    rate: RATE,
    warmupMs: 1_000,
    durationMs: quick ? 3_000 : 10_000,
    expectStatus: 202,
    send: (i, measured) => postCritical(pool, criticalJson(i, measured ? 'alone' : 'warmup')),
  });
  await until(() => sentCount(server) >= alone.ok, 10_000);
  log.read(server);

  ctx.log(`a broadcast to ${fmt(members)} members, to be swept ${RETENTION} after it is written`);
  await server.api('POST', '/v1/events', { workflow: 'broadcast', to: [{ topic: 'all' }], data: { n: 1 } });
  await until(() => server.inAppCount() >= members, 60_000);
  const broadcast = broadcastRows(server);
  const total = broadcast.messages.total + broadcast.changes.total;
  const writtenAt = Date.now();

  ctx.log(`(c) ${RATE} critical events/s until the sweep has deleted the broadcast's ${fmt(total)} rows`);
  const stop = new AbortController();
  const during = openLoop({
    label: 'critical during a sweep',
    rate: RATE,
    warmupMs: 0,
    durationMs: RETENTION_MS * 4,
    expectStatus: 202,
    signal: stop.signal,
    send: (i) => postCritical(pool, criticalJson(SWEEP_FIRST + i, 'sweep')),
  });
  let sweepStart: number | null = null;
  let sweepEnd: number | null = null;
  let lastRead = 0;
  try {
    await until(() => {
      const now = Date.now();
      if (now - lastRead >= 500) {
        log.read(server);
        lastRead = now;
      }
      const remaining = left(server, broadcast);
      if (sweepStart === null && remaining < total) sweepStart = now;
      if (remaining === 0) sweepEnd = now;
      return sweepEnd !== null;
    }, RETENTION_MS * 4);
  } finally {
    stop.abort();
  }
  const sweep = await during;
  // Counted from the log, not the table: the sweep has taken the oldest critical rows by now.
  await until(() => {
    log.read(server);
    return log.sent('sweep') >= sweep.ok;
  }, 10_000);
  await server.closePool(pool);

  const rows = [...log.rows.values()];
  const aloneRows = rows.filter((r) => r.phase === 'alone');
  const start = sweepStart ?? Number.POSITIVE_INFINITY;
  const end = sweepEnd ?? Number.NEGATIVE_INFINITY;
  const inSweep = rows.filter((r) => r.phase === 'sweep' && r.acceptedAt >= start && r.acceptedAt <= end);
  const a = latencies(aloneRows);
  const c = latencies(inSweep);
  const sweepMs = sweepEnd !== null && sweepStart !== null ? sweepEnd - sweepStart : Number.NaN;
  ctx.log(`(a) alone: p50 ${fmt(a.p50, 1)} ms, p99 ${fmt(a.p99, 1)} ms; ${stageText(stages(aloneRows))}`);
  ctx.log(
    `(c) during the sweep (${fmt(sweepMs / 1000, 2)} s, starting ${fmt(((sweepStart ?? writtenAt) - writtenAt) / 1000, 1)} s ` +
      `after the broadcast was written): ${fmt(c.count)} critical events, p50 ${fmt(c.p50, 1)} ms, ` +
      `p99 ${fmt(c.p99, 1)} ms, max ${fmt(c.max, 1)} ms; ${stageText(stages(inSweep))}`,
  );
  ctx.row('(a) alone: 202 → provider accepted p99', a.p99, 'ms', { op: '<=', value: P99_TARGET_MS });
  ctx.row('(c) during a retention sweep: p99', c.p99, 'ms', { op: '<=', value: P99_TARGET_MS });
  ctx.row('(c) during a retention sweep: max', c.max, 'ms');
  ctx.row('p99 ratio (c) / (a)', c.p99 / a.p99, '×');
  ctx.row('(c) critical events in the sweep window', c.count, '', { op: '>=', value: 1 });
  ctx.row('rows swept', total, '', undefined, `${fmt(sweepMs / 1000, 2)} s`);
  ctx.row('non-202 answers', unexpectedTotal(alone) + unexpectedTotal(sweep), '', { op: '==', value: 0 });
  ctx.detail('result', {
    rate: RATE,
    members,
    retention: RETENTION,
    sweptRows: total,
    sweepMs: round(sweepMs, 1),
    alone: { acceptedToSentMs: roundSummary(a), stagesMs: stages(aloneRows) },
    duringSweep: { acceptedToSentMs: roundSummary(c), stagesMs: stages(inSweep) },
  });
}

export const retention: Scenario = {
  name: 'retention',
  description: `critical email at ${RATE}/s: 202 → provider accepted, alone and while the retention sweep deletes a broadcast`,
  run: (ctx) =>
    ctx.withServer('retention', (server) => measure(ctx, server), { TIDINGS_RETENTION: RETENTION }),
};
