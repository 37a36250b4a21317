import type Database from 'better-sqlite3';
import { dailyCapScope } from '../../policy/daily-cap.ts';
import type { PersonalData } from '../../security/personal-data.ts';
import { CANCELLABLE_SQL } from '../cancellation.ts';
import {
  type ConsentRow,
  type DigestEventRow,
  EXPIRING,
  erasedEntry,
  expiryFloor,
  FIRST_RULE_SCOPE,
  FIRST_WAITING,
  messagesUpTo,
  nextWaiting,
  rateCountersOf,
  scrubEventPayload,
  toConsent,
  toDigestEventRef,
  toWaitingJobRef,
  type WaitingJobRow,
  waitingFor,
} from '../personal-data.ts';
import type {
  ErasureJob,
  ErasureRequest,
  ExpiringTable,
  PersonalDataStore,
  WaitingJobsCursor,
} from '../port.ts';
import type { JobStatements } from './jobs.ts';

/** The consent log insert, shared by the writes that change consent (preferences, suppressions). */
export function consentStatements(db: Database.Database) {
  // Only for a subscriber that exists: an erased one gets no entry under their id again.
  const insert = db.prepare(
    `INSERT INTO consent_log (tenant_id, subscriber_id, at, change, source, detail)
     SELECT @tenantId, @subscriberId, @at, @change, @source, @detail
      WHERE EXISTS (SELECT 1 FROM subscribers WHERE tenant_id = @tenantId AND id = @subscriberId)`,
  );
  return {
    append(entry: {
      tenantId: string;
      subscriberId: string;
      at: number;
      change: Record<string, unknown>;
      source: string;
      detail: string | null;
    }): void {
      insert.run({ ...entry, change: JSON.stringify(entry.change) });
    },
  };
}

export type ConsentStatements = ReturnType<typeof consentStatements>;

/** Timelines cut to times and statuses: what an erased message keeps of its story. */
const STATUSES_ONLY = `(SELECT json_group_array(json_object('at', json_extract(value, '$.at'),
  'status', json_extract(value, '$.status'))) FROM json_each(messages.timeline))`;

/** How many times, a second apart, an erasure's end tries to truncate the log (truncateLogSoon). */
/**
 * The events among `@ids` (of `@tenantId`) whose `to` names `@subscriberId`, by id or as an inline
 * subscriber: a topic's event names nobody.
 */
const EVENTS_NAMING_SUBSCRIBER = `FROM events
  WHERE tenant_id = @tenantId AND id IN (SELECT value FROM json_each(@ids))
    AND EXISTS (SELECT 1 FROM json_each(events.payload, '$.to') AS t
                 WHERE (t.type = 'text' AND t.value = @subscriberId)
                    OR (t.type = 'object' AND json_extract(t.value, '$.subscriberId') = @subscriberId))`;
const LOG_TRUNCATE_TRIES = 60;
const LOG_TRUNCATE_RETRY_MS = 1_000;

export function sqlitePersonalDataStore(
  db: Database.Database,
  jobs: JobStatements,
  personal: PersonalData,
): PersonalDataStore {
  const consentPage = db.prepare(
    `SELECT id, at, change, source, detail FROM consent_log INDEXED BY consent_log_by_subscriber
      WHERE tenant_id = ? AND subscriber_id = ? AND id > ? ORDER BY id LIMIT ?`,
  );
  const topics = db
    .prepare(
      `SELECT topic_key FROM topic_members INDEXED BY topic_members_by_subscriber
        WHERE tenant_id = ? AND subscriber_id = ? ORDER BY topic_key`,
    )
    .pluck();
  const digestEventsPage = db.prepare(
    `SELECT d.id AS digest_id, d.workflow, d.opened_at, d.closes_at, e.event_id
       FROM digests AS d INDEXED BY digests_by_subscriber
       JOIN digest_events AS e ON e.tenant_id = d.tenant_id AND e.digest_id = d.id
      WHERE d.tenant_id = @tenantId AND d.subscriber_id = @subscriberId
        AND (d.id, e.event_id) > (@digestId, @eventId)
      ORDER BY d.id, e.event_id LIMIT @limit`,
  );
  // The payloads of the kinds that carry events only: a webhook's may be large, and is not read.
  const readyJobsPage = db.prepare(
    `SELECT id, run_at, kind, CASE WHEN kind IN ('fanout', 'deliver') THEN payload END AS payload
       FROM jobs INDEXED BY jobs_ready
      WHERE state = 'ready' AND lane = @lane AND tenant_id = @tenantId AND (run_at, id) > (@runAt, @id)
      ORDER BY run_at, id LIMIT @limit`,
  );
  const dropSubscriber = db.prepare('DELETE FROM subscribers WHERE tenant_id = ? AND id = ?');
  const forget = [
    'DELETE FROM preferences WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId',
    'DELETE FROM devices WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId',
    'DELETE FROM topic_members WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId',
    'DELETE FROM inbox_changes WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId',
    'DELETE FROM inbox_cursors WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId',
    // See the PostgreSQL store: an open stream's heartbeat only extends rows that exist.
    'DELETE FROM inbox_presence WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId',
    `UPDATE consent_log SET subscriber_id = NULL, subscriber_hash = @erasedId, detail = NULL
      WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId`,
  ].map((sql) => db.prepare(sql));
  const page = db.prepare(
    `SELECT id, event_id FROM messages INDEXED BY messages_by_subscriber
      WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId AND created_at <= @before
      ORDER BY id LIMIT @batch`,
  );
  // Only the events whose `to` names the subscriber: read no more.
  const namingEvents = db.prepare(`SELECT id, payload ${EVENTS_NAMING_SUBSCRIBER}`);
  const namingEventIds = db.prepare(`SELECT id ${EVENTS_NAMING_SUBSCRIBER}`).pluck();
  const rewriteEvent = db.prepare('UPDATE events SET payload = ? WHERE tenant_id = ? AND id = ?');
  // The events they were the actor of, through the partial index of the events carrying one
  // (049_events_by_actor.sql): its condition is repeated here so that it applies.
  const actorPage = db.prepare(
    `SELECT id, payload FROM events INDEXED BY events_by_actor
      WHERE tenant_id = @tenantId AND instr(payload, '"actor":') > 0
        AND json_extract(payload, '$.actor') = @subscriberId AND created_at <= @before
      LIMIT @batch`,
  );
  const cancel = db.prepare(
    `UPDATE messages SET status = 'cancelled', timeline = json_insert(timeline, '$[#]', json(@entry))
      WHERE tenant_id = @tenantId AND id = @id AND status IN (${CANCELLABLE_SQL})`,
  );
  const erase = db.prepare(
    `UPDATE messages SET subscriber_id = @erasedId, content = '{}', data = '{}', meta = '{}',
       last_error = NULL, snoozed_until = NULL, updated_at = @now,
       timeline = json_insert(${STATUSES_ONLY}, '$[#]', json(@entry))
      WHERE tenant_id = @tenantId AND id = @id`,
  );
  const dropCaptures = db.prepare(
    `DELETE FROM sandbox_captures INDEXED BY sandbox_captures_by_message
      WHERE tenant_id = ? AND message_id = ?`,
  );

  const digestsOf = db.prepare('SELECT id FROM digests WHERE tenant_id = ? AND subscriber_id = ?').pluck();
  const digestEvents = db
    .prepare('SELECT event_id FROM digest_events WHERE tenant_id = ? AND digest_id = ?')
    .pluck();
  const dropDigestEvents = db.prepare('DELETE FROM digest_events WHERE tenant_id = ? AND digest_id = ?');
  const dropDigest = db.prepare('DELETE FROM digests WHERE tenant_id = ? AND id = ?');
  const skippedPage = db.prepare(
    `SELECT event_id, step FROM skipped_steps INDEXED BY skipped_steps_by_subscriber
      WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId AND created_at <= @before LIMIT @batch`,
  );
  // OR REPLACE: the erased id is the same for every erasure of that id (a re-created subscriber
  // erased again may hold a step of the same event).
  const renameSkipped = db.prepare(
    `UPDATE OR REPLACE skipped_steps SET subscriber_id = @erasedId
      WHERE tenant_id = @tenantId AND event_id = @eventId AND subscriber_id = @subscriberId AND step = @step`,
  );
  const waitingJobs = db.prepare(
    `SELECT id, run_at, kind, state, payload, partition_key FROM jobs INDEXED BY jobs_ready
      WHERE state = 'ready' AND lane = @lane AND tenant_id = @tenantId AND (run_at, id) > (@runAt, @id)
      ORDER BY run_at, id LIMIT @limit`,
  );
  // Jobs running right now: a handful per worker.
  const runningJobs = db.prepare(
    `SELECT id, run_at, kind, state, payload, partition_key FROM jobs INDEXED BY jobs_leases
      WHERE state = 'leased' AND tenant_id = @tenantId`,
  );
  const rewriteJob = db.prepare('UPDATE jobs SET payload = ? WHERE id = ?');
  const dropJob = db.prepare("DELETE FROM jobs WHERE id = ? AND state = 'ready'");

  const scrubEvents = (
    request: Pick<ErasureRequest, 'tenantId' | 'subscriberId' | 'erasedId'>,
    eventIds: Iterable<string>,
  ): void => {
    const { tenantId, subscriberId, erasedId } = request;
    const ids = JSON.stringify([...eventIds]);
    if (ids === '[]') return;
    for (const event of namingEvents.all({ tenantId, ids, subscriberId }) as {
      id: string;
      payload: string;
    }[]) {
      const scrubbed = scrubEventPayload(JSON.parse(event.payload), subscriberId, erasedId);
      if (scrubbed) rewriteEvent.run(JSON.stringify(scrubbed), tenantId, event.id);
    }
  };
  const scrubJobs = (request: ErasureRequest, rows: readonly WaitingJobRow[], webhooksOnly = false): void => {
    const only = webhooksOnly ? messagesUpTo(request) : undefined;
    const found = waitingFor(rows, request.subscriberId, request.erasedId, only);
    scrubEvents(request, found.eventIds);
    for (const rewrite of found.rewrites) rewriteJob.run(JSON.stringify(rewrite.payload), rewrite.id);
    for (const id of found.drops) dropJob.run(id);
  };
  const eraseSkippedBatch = (request: ErasureRequest): number => {
    const rows = skippedPage.all(request) as { event_id: string; step: number }[];
    // Events only a skipped step knew (every step skipped for them) hold their data too.
    scrubEvents(request, new Set(rows.map((row) => row.event_id)));
    for (const row of rows) renameSkipped.run({ ...request, eventId: row.event_id, step: row.step });
    return rows.length;
  };
  // A digest still open gathers the subscriber's events and a key rendered from their data.
  const eraseDigests = (request: ErasureRequest): void => {
    const { tenantId, subscriberId } = request;
    for (const digestId of digestsOf.all(tenantId, subscriberId) as string[]) {
      scrubEvents(request, digestEvents.all(tenantId, digestId) as string[]);
      dropDigestEvents.run(tenantId, digestId);
      dropDigest.run(tenantId, digestId);
    }
  };
  const eraseActorBatch = (request: ErasureRequest): number => {
    const rows = actorPage.all(request) as { id: string; payload: string }[];
    for (const row of rows) {
      const payload = { ...JSON.parse(row.payload), actor: request.erasedId };
      rewriteEvent.run(JSON.stringify(payload), request.tenantId, row.id);
    }
    return rows.length;
  };
  const eraseBatch = (request: ErasureRequest): number => {
    const rows = page.all(request) as { id: string; event_id: string }[];
    const ids = rows.map((row) => row.id);
    const { tenantId, erasedId, now } = request;
    scrubEvents(request, new Set(rows.map((row) => row.event_id)));
    const cancelled = JSON.stringify({ at: new Date(now).toISOString(), status: 'cancelled' });
    const entry = JSON.stringify(erasedEntry(now));
    for (const id of ids) {
      cancel.run({ tenantId, id, entry: cancelled });
      erase.run({ tenantId, id, erasedId, now, entry });
      dropCaptures.run(tenantId, id);
    }
    return ids.length;
  };
  const noteErasure = db.prepare(
    `INSERT INTO erasures (tenant_id, last_at) VALUES (?, ?)
     ON CONFLICT (tenant_id) DO UPDATE SET last_at = max(last_at, excluded.last_at)`,
  );
  // The connection zeroes what a write frees (secure_delete, src/store/sqlite/index.ts); an
  // erasure's last step drops the log's older images of the pages it rewrote (settleErasure).
  const truncateLog = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)');
  /**
   * Copies the rest of the log into the file and truncates it, if that can be done now: under
   * the write lock (as any write), but never waiting there for readers still on older pages or
   * for the checkpoint thread's pass — every writer would wait too (critical ones included). The
   * checkpoint thread has copied all but the last moments of the log, so what is left is short.
   * Tried again a second later while it cannot, for a while; then later writes overwrite those
   * frames as the log goes round (docs/personal-data-rights.md, "Erasure").
   */
  function truncateLogSoon(triesLeft: number): void {
    if (!db.open) return;
    const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
    let truncated = false;
    db.pragma('busy_timeout = 0');
    try {
      truncated = (truncateLog.get() as { busy: number }).busy === 0;
    } catch (error) {
      // Another connection checkpointing at this moment: as busy. Anything else is the disk's,
      // which the next write meets too.
      const code = (error as { code?: string }).code;
      if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') throw error;
    } finally {
      db.pragma(`busy_timeout = ${busyTimeout}`);
    }
    if (!truncated && triesLeft > 1)
      setTimeout(() => {
        try {
          truncateLogSoon(triesLeft - 1);
        } catch {
          // Best effort, off any caller's path: the store's own writes report a failing disk.
        }
      }, LOG_TRUNCATE_RETRY_MS).unref();
  }
  const begin = db.transaction((asked: ErasureRequest, job: ErasureJob) => {
    // Takes effect now, under the write lock: every message of theirs written so far is theirs,
    // however late its delivery stamped it (one writer: no other subscriber of the id exists yet).
    const request = { ...asked, before: Math.max(asked.before, Date.now()) };
    const { tenantId, subscriberId, erasedId } = request;
    const hadProfile = dropSubscriber.run(tenantId, subscriberId).changes > 0;
    noteErasure.run(tenantId, request.now);
    personal.forgetRecentValues();
    for (const statement of forget) statement.run({ tenantId, subscriberId, erasedId });
    eraseDigests(request);
    eraseBatch(request);
    eraseActorBatch(request);
    jobs.enqueue(typeof job === 'function' ? job(request.before) : job, request.now);
    return hadProfile;
  });
  const eraseMessages = db.transaction(eraseBatch);
  const scrubNamed = db.transaction(
    (who: Pick<ErasureRequest, 'tenantId' | 'subscriberId' | 'erasedId'>, eventIds: string[]) =>
      scrubEvents(who, eventIds),
  );
  const eraseSkipped = db.transaction(eraseSkippedBatch);
  const eraseActors = db.transaction(eraseActorBatch);
  const scrubWaiting = db.transaction(
    (
      request: ErasureRequest,
      after: WaitingJobsCursor | null,
      limit: number,
      webhooksOnly: boolean,
    ): WaitingJobsCursor | null => {
      const { tenantId } = request;
      if (after === null) scrubJobs(request, runningJobs.all({ tenantId }) as WaitingJobRow[], webhooksOnly);
      const from = after ?? FIRST_WAITING;
      const rows = waitingJobs.all({ ...from, tenantId, limit }) as WaitingJobRow[];
      scrubJobs(request, rows, webhooksOnly);
      return nextWaiting(from, rows, limit);
    },
  );

  const firstScopeFrom = db
    .prepare('SELECT scope FROM rate_counters WHERE tenant_id = ? AND scope >= ? ORDER BY scope LIMIT 1')
    .pluck();
  const dropCounters = db.prepare(
    `DELETE FROM rate_counters
      WHERE tenant_id = @tenantId AND (scope = @own OR (scope > (@own || char(31)) AND scope < (@own || char(32))))`,
  );
  const eraseCounters = db.transaction((request: ErasureRequest, from: string | null, limit: number) => {
    // The daily cap's counter is theirs alone: its scope is deleted as a rule's own scope is.
    if (from === null)
      dropCounters.run({ tenantId: request.tenantId, own: dailyCapScope(request.subscriberId) });
    let at = from ?? FIRST_RULE_SCOPE;
    for (let rule = 0; rule < limit; rule++) {
      const scope = firstScopeFrom.get(request.tenantId, at) as string | undefined;
      if (scope === undefined) return null;
      const { own, next } = rateCountersOf(scope, request.subscriberId);
      if (own) dropCounters.run({ tenantId: request.tenantId, own });
      at = next;
    }
    return at;
  });

  const purges = new Map<ExpiringTable, Database.Statement>();
  for (const [table, { idColumn, key }] of Object.entries(EXPIRING) as [
    ExpiringTable,
    (typeof EXPIRING)[ExpiringTable],
  ][]) {
    // An event scheduled further ahead than the retention stays until its send time has passed.
    const scheduled =
      table === 'events'
        ? `AND COALESCE((julianday(json_extract(payload, '$.sendAt')) - 2440587.5) * 86400000, 0) < @before`
        : '';
    purges.set(
      table,
      db.prepare(
        `DELETE FROM ${table} WHERE tenant_id = @tenantId AND (${key}) IN (
           SELECT ${key} FROM ${table} WHERE tenant_id = @tenantId AND ${idColumn} < @floor
              AND created_at < @before ${scheduled} LIMIT @limit)`,
      ),
    );
  }
  const purgeDead = db.prepare(
    `DELETE FROM jobs WHERE id IN (
       SELECT id FROM jobs INDEXED BY jobs_dead WHERE state = 'dead' AND created_at < ? LIMIT ?)`,
  );

  return {
    async listConsentLog(tenantId, subscriberId, afterId, limit) {
      return (consentPage.all(tenantId, subscriberId, afterId, limit) as ConsentRow[]).map(toConsent);
    },
    async subscriberTopics(tenantId, subscriberId) {
      return topics.all(tenantId, subscriberId) as string[];
    },
    async pageDigestEvents(tenantId, subscriberId, after, limit) {
      const rows = digestEventsPage.all({
        tenantId,
        subscriberId,
        digestId: after?.digestId ?? '',
        eventId: after?.eventId ?? '',
        limit,
      }) as DigestEventRow[];
      return rows.map(toDigestEventRef);
    },
    async eventsNaming(tenantId, eventIds, subscriberId) {
      if (eventIds.length === 0) return [];
      return namingEventIds.all({ tenantId, ids: JSON.stringify(eventIds), subscriberId }) as string[];
    },
    async pageWaitingJobs(tenantId, after, limit) {
      const from = after ?? FIRST_WAITING;
      const rows = readyJobsPage.all({ ...from, tenantId, limit }) as WaitingJobRow[];
      return { jobs: rows.map(toWaitingJobRef), next: nextWaiting(from, rows, limit) };
    },
    // No other process listens: a notice (ChannelNotice) has nobody to go to.
    async beginErasure(request, job) {
      return begin.immediate(request, job);
    },
    async eraseMessages(request) {
      return eraseMessages.immediate(request);
    },
    async eraseSkippedSteps(request) {
      return eraseSkipped.immediate(request);
    },
    async eraseActorEvents(request) {
      return eraseActors.immediate(request);
    },
    async scrubWaitingEvents(request, after, limit, webhooksOnly = false) {
      return scrubWaiting.immediate(request, after, limit, webhooksOnly);
    },
    async settleErasure() {
      truncateLogSoon(LOG_TRUNCATE_TRIES);
    },
    async scrubEventsOf(who, eventIds) {
      scrubNamed.immediate(who, eventIds);
    },
    async eraseRateCounters(request, from, limit) {
      return eraseCounters.immediate(request, from, limit);
    },
    async purgeExpired(table, tenantId, before, limit) {
      const floor = expiryFloor(table, before);
      return purges.get(table)!.run({ tenantId, floor, before, limit }).changes;
    },
    async purgeDeadJobs(before, limit) {
      return purgeDead.run(before, limit).changes;
    },
  };
}
