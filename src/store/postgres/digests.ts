import type pg from 'pg';
import { digestJoinReason } from '../../policy/digest.ts';
import type {
  ClosedDigest,
  DigestJobPayload,
  DigestJoin,
  DigestStore,
  DigestWrites,
  JobSpec,
} from '../port.ts';
import type { DigestRow } from '../rows.ts';
import { run } from './client.ts';
import { insertJobsFrom, jobsParam } from './jobs.ts';

const slotOf = (tenantId: string, workflow: string, subscriberId: string, key: string) =>
  `${tenantId}\u0000${workflow}\u0000${subscriberId}\u0000${key}`;

/**
 * Joins (or opens) the open digest of each join's (tenant, workflow, subscriber, key). One upsert
 * row per such slot — PostgreSQL refuses an ON CONFLICT DO UPDATE that meets one row twice — in
 * a fixed order, so two writers lock shared digests in the same order. The no-op DO UPDATE locks
 * the open row until this transaction commits: a close (UPDATE … SET closed) waits for it, and
 * then reads this join's events. A join that meets a row being closed waits for the close to
 * commit; the closed row has left digests_open by then, so the join opens a new window instead.
 * An upsert answering the id proposed here means this transaction opened the window: only then is
 * the close job queued, so there is exactly one per window.
 */
async function join(client: pg.PoolClient, joins: DigestJoin[]): Promise<void> {
  const slots = new Map<string, DigestJoin>();
  for (const j of joins) {
    const slot = slotOf(j.tenantId, j.workflow, j.subscriberId, j.key);
    if (!slots.has(slot)) slots.set(slot, j);
  }
  const ordered = [...slots.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const { rows } = await run<DigestRow>(
    client,
    `INSERT INTO digests (tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at)
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id TEXT, id TEXT, workflow TEXT,
       subscriber_id TEXT, digest_key TEXT, opened_at BIGINT, closes_at BIGINT)
     ON CONFLICT (tenant_id, workflow, subscriber_id, digest_key) WHERE NOT closed
     DO UPDATE SET closes_at = digests.closes_at
     RETURNING tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at`,
    [
      JSON.stringify(
        ordered.map(([, j]) => ({
          tenant_id: j.tenantId,
          id: j.digestId,
          workflow: j.workflow,
          subscriber_id: j.subscriberId,
          digest_key: j.key,
          opened_at: j.now,
          closes_at: j.now + j.windowMs,
        })),
      ),
    ],
  );
  const digests = new Map(
    rows.map((r) => [slotOf(r.tenant_id, r.workflow, r.subscriber_id, r.digest_key), r]),
  );
  const events: object[] = [];
  const skipped: object[] = [];
  const closeJobs: JobSpec[] = [];
  for (const j of joins) {
    const slot = slotOf(j.tenantId, j.workflow, j.subscriberId, j.key);
    const digest = digests.get(slot)!;
    events.push({ tenant_id: j.tenantId, digest_id: digest.id, event_id: j.eventId, joined_at: j.now });
    const reason = digestJoinReason(digest.closes_at);
    for (const { step, channel } of j.steps)
      skipped.push({
        tenant_id: j.tenantId,
        event_id: j.eventId,
        subscriber_id: j.subscriberId,
        step,
        channel,
        reason,
        created_at: j.now,
      });
    if (digest.id === j.digestId) {
      const payload: DigestJobPayload = { digestId: digest.id };
      closeJobs.push({ tenantId: j.tenantId, ...j.job, payload, runAt: digest.closes_at });
    }
  }
  await run(
    client,
    `WITH e AS (
       INSERT INTO digest_events (tenant_id, digest_id, event_id, joined_at)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id TEXT, digest_id TEXT, event_id TEXT, joined_at BIGINT)
       ON CONFLICT DO NOTHING),
     s AS (
       INSERT INTO skipped_steps (tenant_id, event_id, subscriber_id, step, channel, reason, created_at)
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS r(tenant_id TEXT, event_id TEXT, subscriber_id TEXT,
         step INTEGER, channel TEXT, reason TEXT, created_at BIGINT)
       ON CONFLICT DO NOTHING),
     j AS (${insertJobsFrom('$3')})
     SELECT 1`,
    [JSON.stringify(events), JSON.stringify(skipped), jobsParam(closeJobs, joins[0]?.now)],
  );
}

/**
 * The digest part of a delivery write, on the connection of its transaction (before its
 * messages): joins only while the delivery's run still holds one of its jobs, held with FOR
 * UPDATE until the commit so no other run can take it meanwhile (see DigestWrites).
 */
export async function writeDigests(
  client: pg.PoolClient,
  writes: DigestWrites,
  ack: { owner: string; jobIds: number[] } | undefined,
): Promise<void> {
  const joins = writes.joins ?? [];
  if (joins.length > 0) {
    const held = ack
      ? (
          await run(
            client,
            'SELECT 1 FROM jobs WHERE id = ANY($1::BIGINT[]) AND lease_owner = $2 ORDER BY id FOR UPDATE',
            [ack.jobIds, ack.owner],
          )
        ).rowCount! > 0
      : true;
    if (held) await join(client, joins);
  }
  const finished = writes.finished ?? [];
  if (finished.length > 0) {
    const refs = JSON.stringify(finished.map((f) => ({ tenant_id: f.tenantId, id: f.id })));
    await run(
      client,
      `WITH f AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id TEXT, id TEXT)),
         e AS (DELETE FROM digest_events d USING f WHERE d.tenant_id = f.tenant_id AND d.digest_id = f.id)
       DELETE FROM digests d USING f WHERE d.tenant_id = f.tenant_id AND d.id = f.id`,
      [refs],
    );
  }
}

export function postgresDigestStore(pool: pg.Pool): DigestStore {
  return {
    async closeDigest(tenantId, id): Promise<ClosedDigest | null> {
      // Two statements, not one: the UPDATE waits for joins holding the row, and only a statement
      // started after it sees what they committed (READ COMMITTED takes a snapshot per statement).
      const { rows } = await run<DigestRow>(
        pool,
        'UPDATE digests SET closed = TRUE WHERE tenant_id = $1 AND id = $2 RETURNING *',
        [tenantId, id],
      );
      const row = rows[0];
      if (!row) return null;
      const events = await run<{ event_id: string }>(
        pool,
        'SELECT event_id FROM digest_events WHERE tenant_id = $1 AND digest_id = $2 ORDER BY joined_at, event_id',
        [tenantId, id],
      );
      return {
        tenantId: row.tenant_id,
        id: row.id,
        workflow: row.workflow,
        subscriberId: row.subscriber_id,
        key: row.digest_key,
        openedAt: row.opened_at,
        closesAt: row.closes_at,
        eventIds: events.rows.map((r) => r.event_id),
      };
    },
  };
}
