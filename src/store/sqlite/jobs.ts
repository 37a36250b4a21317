import type Database from 'better-sqlite3';
import { LANES, type Lane } from '../../shared/model.ts';
import {
  type ClaimRequest,
  DEFAULT_JOB_MAX_ATTEMPTS,
  type Job,
  type JobSpec,
  type JobStore,
  type OpenPartsChange,
} from '../port.ts';
import { type JobRow, toDeadJob, toJob } from '../rows.ts';

/** Tenants served per lane in one claim; the rest are reached by the round-robin cursor. */
const MAX_TENANTS_PER_CLAIM = 32;

/** Prepared job statements shared by the queue and by the transactions that enqueue follow-ups. */
export function jobStatements(db: Database.Database) {
  const insert = db.prepare(
    `INSERT INTO jobs (tenant_id, kind, lane, partition_key, run_at, max_attempts, payload, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const remove = db.prepare('DELETE FROM jobs WHERE id = ? AND lease_owner = ?');
  const held = db.prepare('SELECT 1 FROM jobs WHERE id = ? AND lease_owner = ?').pluck();
  const changeOpenParts = db.prepare(
    `UPDATE events SET open_parts = open_parts + ?,
       counts_every_part = CASE WHEN counts_every_part IS NULL THEN NULL ELSE 1 END
     WHERE tenant_id = ? AND id = ?`,
  );
  /** Queues `spec`; answers the new job's id. */
  function enqueue(spec: JobSpec, now = Date.now()): number {
    const { lastInsertRowid } = insert.run(
      spec.tenantId,
      spec.kind,
      spec.lane,
      spec.partitionKey ?? null,
      spec.runAt ?? now,
      spec.maxAttempts ?? DEFAULT_JOB_MAX_ATTEMPTS,
      JSON.stringify(spec.payload ?? null),
      now,
    );
    return Number(lastInsertRowid);
  }
  return {
    enqueue,
    /**
     * Deletes the jobs `owner` still holds and, if it held any, queues `followUps`: a job whose
     * lease was lost will run again elsewhere, and its follow-ups come from that run. Each of
     * `parts` is applied only if its job was held: a job run again elsewhere counts its own part,
     * and counted twice it could read an event complete too early. The changes go before the
     * follow-ups: a fallback job opens its own part as it is inserted (migration 050), on a count
     * that must already hold this write's change.
     */
    complete(owner: string, ids: number[], followUps: JobSpec[] = [], parts: OpenPartsChange[] = []): void {
      const removed = new Set<number>();
      for (const id of ids) if (remove.run(id, owner).changes > 0) removed.add(id);
      if (removed.size === 0) return;
      for (const change of parts)
        if (removed.has(change.jobId)) changeOpenParts.run(change.by, change.tenantId, change.eventId);
      for (const spec of followUps) enqueue(spec);
    },
    /** Whether `owner` still holds one of the jobs `ids` (complete would delete it). */
    holdsAny(owner: string, ids: number[]): boolean {
      for (const id of ids) if (held.get(id, owner) !== undefined) return true;
      return false;
    },
  };
}

export type JobStatements = ReturnType<typeof jobStatements>;

export function sqliteJobStore(db: Database.Database, jobs: JobStatements): JobStore {
  const candidates = db.prepare(
    `SELECT id, partition_key FROM jobs
      WHERE state = 'ready' AND lane = ? AND tenant_id = ? AND run_at <= ?
        AND (partition_key IS NULL OR NOT EXISTS (
              SELECT 1 FROM jobs held WHERE held.state = 'leased' AND held.partition_key = jobs.partition_key))
      ORDER BY run_at, id LIMIT ?`,
  );
  // The first tenant with ready jobs in a lane after another: one seek of jobs_ready. Walked from
  // JavaScript, a seek per tenant (a recursive CTE doing the same cost about eight times as much
  // per statement, and a claim asks every lane, twice when the round-robin wraps).
  const tenantAfter = db
    .prepare(`SELECT MIN(tenant_id) FROM jobs WHERE state = 'ready' AND lane = ? AND tenant_id > ?`)
    .pluck();
  // Where each lane's round-robin over tenants resumes.
  const cursors = new Map<Lane, string>();

  /**
   * Up to MAX_TENANTS_PER_CLAIM tenants with work in `lane`, in id order after `from`, stopping past
   * `until` (when given), onto `into`.
   */
  function walkTenants(lane: Lane, from: string, until: string | null, into: string[]): void {
    let at = from;
    while (into.length < MAX_TENANTS_PER_CLAIM) {
      const tenant = tenantAfter.get(lane, at) as string | null;
      if (tenant === null || (until !== null && tenant > until)) return;
      into.push(tenant);
      at = tenant;
    }
  }

  /** Up to MAX_TENANTS_PER_CLAIM tenants with work in `lane`, starting after the lane's cursor and wrapping. */
  function tenantsFor(lane: Lane): string[] {
    const after = cursors.get(lane) ?? '';
    const tenants: string[] = [];
    walkTenants(lane, after, null, tenants);
    if (after !== '') walkTenants(lane, '', after, tenants);
    return tenants;
  }
  const lease = db.prepare(
    `UPDATE jobs SET state = 'leased', lease_owner = ?, lease_until = ?, attempts = attempts + 1
      WHERE id = ? RETURNING *`,
  );
  const retry = db.prepare(
    `UPDATE jobs SET state = 'ready', run_at = ?, last_error = ?, attempts = attempts - ?, lease_owner = NULL,
       lease_until = NULL
      WHERE id = ? AND lease_owner = ?`,
  );
  const dead = db.prepare(
    `UPDATE jobs SET state = 'dead', last_error = ?, lease_owner = NULL, lease_until = NULL
      WHERE id = ? AND lease_owner = ?`,
  );
  const extend = db.prepare(
    `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state = 'leased'`,
  );
  const releaseExpired = db.prepare(
    `UPDATE jobs SET state = 'ready', lease_owner = NULL, lease_until = NULL WHERE state = 'leased' AND lease_until < ?`,
  );
  const releaseOwner = db.prepare(
    `UPDATE jobs SET state = 'ready', lease_owner = NULL, lease_until = NULL, attempts = attempts - ?
      WHERE state = 'leased' AND lease_owner = ? AND id NOT IN (SELECT value FROM json_each(?))`,
  );
  const owners = db.prepare(`SELECT DISTINCT lease_owner FROM jobs WHERE state = 'leased'`).pluck();
  const nextRun = db.prepare(`SELECT MIN(run_at) FROM jobs WHERE state = 'ready'`).pluck();
  const counts = db.prepare(`SELECT state, COUNT(*) AS n FROM jobs GROUP BY state`);
  // Through jobs_ready (lane first), reading at most @cap entries of the lane.
  const laneStats = db.prepare(
    `SELECT COUNT(*) AS due, MIN(run_at) AS oldest FROM
       (SELECT run_at FROM jobs WHERE state = 'ready' AND lane = @lane AND run_at <= @now LIMIT @cap)`,
  );
  const deadJobs = db.prepare(`SELECT * FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT ?`);
  // Through jobs_dead (id WHERE state = 'dead'): the newest `cap` dead jobs only.
  const deadByKind = db.prepare(
    `SELECT kind, COUNT(*) AS dead FROM (SELECT kind FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT ?)
     GROUP BY kind ORDER BY kind`,
  );

  const claim = db.transaction((request: ClaimRequest): Job[] => {
    const claimed: Job[] = [];
    const seenPartitions = new Set<string>();
    const until = request.now + request.leaseMs;

    /** Leases up to `limit` of one tenant's ready jobs in `lane`; answers how many. */
    function take(lane: Lane, tenant: string, limit: number): number {
      let taken = 0;
      const rows = candidates.all(lane, tenant, request.now, limit + 32) as {
        id: number;
        partition_key: string | null;
      }[];
      for (const row of rows) {
        if (taken >= limit) break;
        if (row.partition_key !== null) {
          // Only the oldest ready job of a partition may run; the rest wait for it to finish.
          if (seenPartitions.has(row.partition_key)) continue;
          seenPartitions.add(row.partition_key);
        }
        claimed.push(toJob(lease.get(request.owner, until, row.id) as JobRow));
        taken++;
      }
      return taken;
    }

    // What each tenant took in this claim so far, all lanes together (a lane's `total` bounds it).
    const spent = new Map<string, number>();
    for (const { lane, limit, caps, total } of request.quotas) {
      if (limit <= 0) continue;
      const inAll = (tenant: string) =>
        total ? (total.byTenant[tenant] ?? total.fresh) - (spent.get(tenant) ?? 0) : Number.POSITIVE_INFINITY;
      const tenants = tenantsFor(lane);
      if (tenants.length === 0) continue;
      // What each tenant may still take of this lane in this claim (unbounded without caps).
      const left = new Map<string, number>();
      const capped = (tenant: string, want: number) =>
        Math.min(
          caps ? Math.min(want, left.get(tenant) ?? caps.byTenant[tenant] ?? caps.fresh) : want,
          inAll(tenant),
        );
      const takeCapped = (tenant: string, want: number) => {
        const allowed = capped(tenant, want);
        if (allowed <= 0) return 0;
        const got = take(lane, tenant, allowed);
        if (caps) left.set(tenant, (left.get(tenant) ?? caps.byTenant[tenant] ?? caps.fresh) - got);
        spent.set(tenant, (spent.get(tenant) ?? 0) + got);
        return got;
      };
      // First an equal share for every tenant with work, then what is left to whoever has more.
      const share = Math.max(1, Math.ceil(limit / tenants.length));
      let taken = 0;
      for (const tenant of tenants) {
        if (taken >= limit) break;
        taken += takeCapped(tenant, Math.min(share, limit - taken));
        cursors.set(lane, tenant);
      }
      for (const tenant of tenants) {
        if (taken >= limit) break;
        taken += takeCapped(tenant, limit - taken);
      }
    }
    return claimed;
  });

  return {
    async enqueueJobs(specs) {
      const now = Date.now();
      db.transaction(() => {
        for (const spec of specs) jobs.enqueue(spec, now);
      })();
    },
    async claimJobs(request) {
      return claim.immediate(request);
    },
    async completeJobs(owner, ids, followUps = [], parts = []) {
      db.transaction(() => jobs.complete(owner, ids, followUps, parts)).immediate();
    },
    async retryJob(owner, id, runAt, error, options) {
      retry.run(runAt, error, options?.refundAttempt ? 1 : 0, id, owner);
    },
    async deadJob(owner, id, error) {
      dead.run(error, id, owner);
    },
    async extendLeases(owner, ids, until) {
      db.transaction(() => {
        for (const id of ids) extend.run(until, id, owner);
      })();
    },
    async releaseExpiredLeases(now) {
      return releaseExpired.run(now).changes;
    },
    async releaseLeasesOf(owner, keep = [], options) {
      return releaseOwner.run(options?.refundAttempt ? 1 : 0, owner, JSON.stringify(keep)).changes;
    },
    async leaseOwners() {
      return owners.all() as string[];
    },
    async nextRunAt() {
      return (nextRun.get() as number | null) ?? null;
    },
    async countJobs() {
      const result = { ready: 0, leased: 0, dead: 0 };
      for (const row of counts.all() as { state: keyof typeof result; n: number }[])
        result[row.state] = row.n;
      return result;
    },
    async queueStats(now, cap) {
      return LANES.map((lane) => {
        const row = laneStats.get({ lane, now, cap }) as { due: number; oldest: number | null };
        return { lane, due: row.due, oldestRunAt: row.oldest };
      });
    },
    async listDeadJobs(limit) {
      return (deadJobs.all(limit) as JobRow[]).map(toDeadJob);
    },
    async deadJobsByKind(cap) {
      return deadByKind.all(cap) as { kind: string; dead: number }[];
    },
  };
}
