import type pg from 'pg';
import { LANES, type Lane } from '../../shared/model.ts';
import { DEFAULT_JOB_MAX_ATTEMPTS, type JobSpec, type JobStore, type OpenPartsChange } from '../port.ts';
import { type JobRow, toDeadJob, toJob } from '../rows.ts';
import { run, withSessionLock } from './client.ts';
import { ADVISORY_LOCKS } from './locks.ts';

/** PostgreSQL's SQLSTATE for a transaction it aborted to break a deadlock. */
const DEADLOCK = '40P01';

/** Jobs as one JSON array parameter, inserted by `insertJobsFrom`. `tag` links a job to the row that owns it. */
export function jobsParam(specs: (JobSpec & { tag?: string })[], now = Date.now()): string {
  return JSON.stringify(
    specs.map((spec) => ({
      tenant_id: spec.tenantId,
      kind: spec.kind,
      lane: spec.lane,
      partition_key: spec.partitionKey ?? null,
      run_at: spec.runAt ?? now,
      max_attempts: spec.maxAttempts ?? DEFAULT_JOB_MAX_ATTEMPTS,
      payload: spec.payload ?? null,
      created_at: now,
      tag: spec.tag ?? null,
    })),
  );
}

/** `INSERT INTO jobs … SELECT` from a `jobsParam` parameter `$n`, optionally filtered on `j.tag`. */
export function insertJobsFrom(param: string, where = 'TRUE'): string {
  return `INSERT INTO jobs (tenant_id, kind, lane, partition_key, run_at, max_attempts, payload, created_at)
    SELECT j.tenant_id, j.kind, j.lane, j.partition_key, j.run_at, j.max_attempts, coalesce(j.payload, 'null'), j.created_at
      FROM jsonb_to_recordset(${param}::jsonb) AS j(tenant_id TEXT, kind TEXT, lane TEXT, partition_key TEXT,
        run_at BIGINT, max_attempts INT, payload JSONB, created_at BIGINT, tag TEXT)
     WHERE ${where}`;
}

/** Open-parts changes as one JSON array parameter, applied by `changeOpenPartsFrom`. */
export function partsParam(parts: OpenPartsChange[]): string {
  return JSON.stringify(
    parts.map((p) => ({ job_id: p.jobId, tenant_id: p.tenantId, event_id: p.eventId, amount: p.by })),
  );
}

/**
 * `UPDATE events …` adding a `partsParam` parameter `$n`'s changes to their events' open parts,
 * each only if its job is among those the statement's `done` CTE deleted (a job run again
 * elsewhere counts its own part there); those of one event are summed first (an UPDATE … FROM
 * changes a row once). The rows are locked in key order first: statements that change several
 * events at once (batches of jobs of different events, from several workers) otherwise lock them
 * in whatever order the join yields, and two of them deadlock (40P01), losing a batch's write.
 */
export function changeOpenPartsFrom(param: string, done: string): string {
  return `UPDATE events e SET open_parts = e.open_parts + c.amount,
        counts_every_part = CASE WHEN e.counts_every_part IS NULL THEN NULL ELSE TRUE END
      FROM (SELECT ev.tenant_id, ev.id, s.amount
              FROM (SELECT r.tenant_id, r.event_id, sum(r.amount)::INT AS amount
                      FROM jsonb_to_recordset(${param}::jsonb) AS r(job_id BIGINT, tenant_id TEXT, event_id TEXT, amount INT)
                     WHERE r.job_id IN (SELECT id FROM ${done})
                     GROUP BY 1, 2) AS s
              JOIN events ev ON ev.tenant_id = s.tenant_id AND ev.id = s.event_id
             ORDER BY ev.tenant_id, ev.id
               FOR UPDATE OF ev) AS c
     WHERE e.tenant_id = c.tenant_id AND e.id = c.id`;
}

/** Dead row versions in `jobs` that make a vacuum worth its cost. */
const VACUUM_AFTER_DEAD = 20_000;

/**
 * Every job is inserted, leased, and deleted: three row versions, two of them dead at once.
 * Autovacuum may be off, or wake once a minute (autovacuum_naptime), while a busy queue leaves
 * hundreds of thousands of dead versions a minute; claims then wade through them in the index
 * and slow down. So workers vacuum the table themselves once the statistics show enough dead
 * rows — a small table, so it takes well under a second.
 */
async function vacuumJobs(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ dead: number }>(
    `SELECT n_dead_tup AS dead FROM pg_stat_user_tables WHERE relid = 'jobs'::regclass`,
  );
  if ((rows[0]?.dead ?? 0) < VACUUM_AFTER_DEAD) return false;
  const vacuumed = await withSessionLock(pool, ADVISORY_LOCKS.jobVacuum, { wait: false }, async (client) => {
    await client.query('VACUUM (ANALYZE) jobs');
    return true;
  });
  return vacuumed ?? false;
}

export function postgresJobStore(db: pg.Pool): JobStore {
  // Where each lane's round-robin over tenants resumes (per process, like the SQLite adapter's).
  const cursors = new Map<Lane, string>();

  return {
    async enqueueJobs(specs) {
      if (specs.length === 0) return;
      await run(db, insertJobsFrom('$1'), [jobsParam(specs)]);
    },
    async claimJobs(request) {
      const quotas = request.quotas.filter((q) => q.limit > 0);
      if (quotas.length === 0) return [];
      const { rows } = await run<JobRow>(
        db,
        'SELECT * FROM tidings_claim($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
        [
          request.owner,
          request.now,
          request.now + request.leaseMs,
          quotas.map((q) => q.lane),
          quotas.map((q) => q.limit),
          quotas.map((q) => cursors.get(q.lane) ?? ''),
          quotas.map((q) => q.caps?.fresh ?? null),
          JSON.stringify(quotas.map((q) => q.caps?.byTenant ?? null)),
          quotas.map((q) => q.total?.fresh ?? null),
          JSON.stringify(quotas.map((q) => q.total?.byTenant ?? null)),
        ],
      );
      for (const row of rows) cursors.set(row.lane as Lane, row.tenant_id);
      return rows.map(toJob);
    },
    async completeJobs(owner, ids, followUps = [], parts = []) {
      if (ids.length === 0) return;
      // A job whose lease was lost will run again elsewhere; its follow-ups and parts come from that run.
      const changes = parts.length > 0 ? `, p AS (${changeOpenPartsFrom('$4', 'done')})` : '';
      await run(
        db,
        `WITH done AS (DELETE FROM jobs WHERE id = ANY($1::BIGINT[]) AND lease_owner = $2 RETURNING id)${changes}
         ${insertJobsFrom('$3', 'EXISTS (SELECT 1 FROM done)')}`,
        [ids, owner, jobsParam(followUps), ...(parts.length > 0 ? [partsParam(parts)] : [])],
      );
    },
    async retryJob(owner, id, runAt, error, options) {
      await run(
        db,
        `UPDATE jobs SET state = 'ready', run_at = $1, last_error = $2, attempts = attempts - $5,
           lease_owner = NULL, lease_until = NULL
          WHERE id = $3 AND lease_owner = $4`,
        [runAt, error, id, owner, options?.refundAttempt ? 1 : 0],
      );
    },
    async deadJob(owner, id, error) {
      await run(
        db,
        `UPDATE jobs SET state = 'dead', last_error = $1, lease_owner = NULL, lease_until = NULL
          WHERE id = $2 AND lease_owner = $3`,
        [error, id, owner],
      );
    },
    async extendLeases(owner, ids, until) {
      if (ids.length === 0) return;
      // Locked in id order: a heartbeat, a completion and a reclaimer each took their rows in
      // whatever order their scan met them, and four workers' statements once waited on each
      // other in a ring (PostgreSQL broke it, 40P01). One broken that way is tried once more.
      for (let attempt = 1; ; attempt++) {
        try {
          await run(
            db,
            `UPDATE jobs SET lease_until = $1 WHERE id IN (
               SELECT id FROM jobs WHERE id = ANY($2::BIGINT[]) AND lease_owner = $3 AND state = 'leased'
                ORDER BY id FOR UPDATE)`,
            [until, ids, owner],
          );
          return;
        } catch (error) {
          if (attempt > 1 || (error as { code?: string }).code !== DEADLOCK) throw error;
        }
      }
    },
    async releaseExpiredLeases(now) {
      // A lease being extended or completed right now is not expired for long: skipped, so a
      // reclaimer never waits on a worker's rows (nor joins a ring of waits with them).
      const result = await run(
        db,
        `UPDATE jobs SET state = 'ready', lease_owner = NULL, lease_until = NULL WHERE id IN (
           SELECT id FROM jobs WHERE state = 'leased' AND lease_until < $1 FOR UPDATE SKIP LOCKED)`,
        [now],
      );
      return result.rowCount ?? 0;
    },
    async releaseLeasesOf(owner, keep = [], options) {
      const result = await run(
        db,
        `UPDATE jobs SET state = 'ready', lease_owner = NULL, lease_until = NULL, attempts = attempts - $3
          WHERE state = 'leased' AND lease_owner = $1 AND NOT (id = ANY($2::BIGINT[]))`,
        [owner, keep, options?.refundAttempt ? 1 : 0],
      );
      return result.rowCount ?? 0;
    },
    async leaseOwners() {
      const { rows } = await run<{ lease_owner: string }>(
        db,
        `SELECT DISTINCT lease_owner FROM jobs WHERE state = 'leased'`,
      );
      return rows.map((r) => r.lease_owner);
    },
    async nextRunAt() {
      const { rows } = await run<{ next: number | null }>(
        db,
        `SELECT min(run_at) AS next FROM jobs WHERE state = 'ready'`,
      );
      return rows[0]?.next ?? null;
    },
    async countJobs() {
      const result = { ready: 0, leased: 0, dead: 0 };
      const { rows } = await run<{ state: keyof typeof result; n: number }>(
        db,
        'SELECT state, count(*)::INT AS n FROM jobs GROUP BY state',
      );
      for (const row of rows) result[row.state] = row.n;
      return result;
    },
    async queueStats(now, cap) {
      // One capped subquery per lane, through jobs_ready (lane first).
      const { rows } = await run<{ lane: Lane; due: number; oldest: number | null }>(
        db,
        `SELECT l.lane, s.due, s.oldest FROM unnest($1::TEXT[]) AS l(lane)
         CROSS JOIN LATERAL (
           SELECT count(*)::INT AS due, min(run_at) AS oldest FROM
             (SELECT run_at FROM jobs WHERE state = 'ready' AND lane = l.lane AND run_at <= $2 LIMIT $3) AS d
         ) AS s`,
        [LANES, now, cap],
      );
      return rows.map((row) => ({ lane: row.lane, due: row.due, oldestRunAt: row.oldest }));
    },
    maintainJobs: () => vacuumJobs(db),
    async listDeadJobs(limit) {
      const { rows } = await run<JobRow>(
        db,
        `SELECT * FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT $1`,
        [limit],
      );
      return rows.map(toDeadJob);
    },
    async deadJobsByKind(cap) {
      const { rows } = await run<{ kind: string; dead: number }>(
        db,
        `SELECT kind, count(*)::INT AS dead
           FROM (SELECT kind FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT $1) AS d
          GROUP BY kind ORDER BY kind`,
        [cap],
      );
      return rows;
    },
  };
}
