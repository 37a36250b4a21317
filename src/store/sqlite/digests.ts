import type Database from 'better-sqlite3';
import { digestJoinReason } from '../../policy/digest.ts';
import type { DigestJobPayload, DigestJoin, DigestStore } from '../port.ts';
import type { DigestRow } from '../rows.ts';
import type { JobStatements } from './jobs.ts';

/**
 * Digest writes made inside a delivery's transaction (see DigestWrites). SQLite runs one writer
 * at a time, so "find the open digest, else open one" needs no more than the transaction.
 */
export function digestStatements(db: Database.Database, jobs: JobStatements) {
  const findOpen = db.prepare(
    `SELECT id, closes_at FROM digests
      WHERE tenant_id = ? AND workflow = ? AND subscriber_id = ? AND digest_key = ? AND closed = 0`,
  );
  const open = db.prepare(
    `INSERT INTO digests (tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at, closed)
     VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
  );
  const addEvent = db.prepare(
    `INSERT INTO digest_events (tenant_id, digest_id, event_id, joined_at) VALUES (?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const skip = db.prepare(
    `INSERT INTO skipped_steps (tenant_id, event_id, subscriber_id, step, channel, reason, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const removeEvents = db.prepare('DELETE FROM digest_events WHERE tenant_id = ? AND digest_id = ?');
  const remove = db.prepare('DELETE FROM digests WHERE tenant_id = ? AND id = ?');
  return {
    /** Joins the open digest or opens one (queuing its close); call inside a transaction. */
    join(join: DigestJoin): void {
      const found = findOpen.get(join.tenantId, join.workflow, join.subscriberId, join.key) as
        | { id: string; closes_at: number }
        | undefined;
      let digest = found;
      if (!digest) {
        digest = { id: join.digestId, closes_at: join.now + join.windowMs };
        open.run(
          join.tenantId,
          digest.id,
          join.workflow,
          join.subscriberId,
          join.key,
          join.now,
          digest.closes_at,
        );
        const payload: DigestJobPayload = { digestId: digest.id };
        jobs.enqueue({ tenantId: join.tenantId, ...join.job, payload, runAt: digest.closes_at }, join.now);
      }
      addEvent.run(join.tenantId, digest.id, join.eventId, join.now);
      const reason = digestJoinReason(digest.closes_at);
      for (const { step, channel } of join.steps)
        skip.run(join.tenantId, join.eventId, join.subscriberId, step, channel, reason, join.now);
    },
    /** Deletes a digest whose messages are written, with its events. */
    finish(ref: { tenantId: string; id: string }): void {
      removeEvents.run(ref.tenantId, ref.id);
      remove.run(ref.tenantId, ref.id);
    },
  };
}

export type DigestStatements = ReturnType<typeof digestStatements>;

export function sqliteDigestStore(db: Database.Database): DigestStore {
  const close = db.prepare(`UPDATE digests SET closed = 1 WHERE tenant_id = ? AND id = ? RETURNING *`);
  const eventsOf = db
    .prepare(
      'SELECT event_id FROM digest_events WHERE tenant_id = ? AND digest_id = ? ORDER BY joined_at, event_id',
    )
    .pluck();
  const closeDigest = db.transaction((tenantId: string, id: string) => {
    const row = close.get(tenantId, id) as DigestRow | undefined;
    if (!row) return null;
    return {
      tenantId: row.tenant_id,
      id: row.id,
      workflow: row.workflow,
      subscriberId: row.subscriber_id,
      key: row.digest_key,
      openedAt: row.opened_at,
      closesAt: row.closes_at,
      eventIds: eventsOf.all(tenantId, id) as string[],
    };
  });
  return {
    async closeDigest(tenantId, id) {
      return closeDigest.immediate(tenantId, id);
    },
  };
}
