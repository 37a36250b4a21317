import type pg from 'pg';
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
import type { ErasureRequest, PersonalDataStore } from '../port.ts';
import { channelName } from './channel.ts';
import { run, transaction } from './client.ts';
import { insertJobsFrom, jobsParam } from './jobs.ts';

/** One consent log entry, for a subscriber that exists (an erased one gets none under their id again). */
export async function appendConsent(
  client: pg.PoolClient,
  entry: {
    tenantId: string;
    subscriberId: string;
    at: number;
    change: Record<string, unknown>;
    source: string;
    detail: string | null;
  },
): Promise<void> {
  await client.query(
    `INSERT INTO consent_log (tenant_id, subscriber_id, at, change, source, detail)
     SELECT $1, $2, $3, $4::jsonb, $5, $6
      WHERE EXISTS (SELECT 1 FROM subscribers WHERE tenant_id = $1 AND id = $2)`,
    [entry.tenantId, entry.subscriberId, entry.at, JSON.stringify(entry.change), entry.source, entry.detail],
  );
}

/** Timelines cut to times and statuses: what an erased message keeps of its story. */
const STATUSES_ONLY = `(SELECT coalesce(jsonb_agg(jsonb_build_object('at', e->'at', 'status', e->'status')
  ORDER BY n), '[]'::jsonb) FROM jsonb_array_elements(messages.timeline) WITH ORDINALITY AS t(e, n))`;

/**
 * The events among `$2` (of tenant `$1`) whose `to` names subscriber `$3`, by id or as an inline
 * subscriber: a topic's event names nobody.
 */
const EVENTS_NAMING_SUBSCRIBER = `FROM events
  WHERE tenant_id = $1 AND id = ANY($2::TEXT[])
    AND (payload->'to' @> jsonb_build_array($3::TEXT)
         OR payload->'to' @> jsonb_build_array(jsonb_build_object('subscriberId', $3::TEXT)))`;

const FORGET = [
  'DELETE FROM preferences WHERE tenant_id = $1 AND subscriber_id = $2',
  'DELETE FROM devices WHERE tenant_id = $1 AND subscriber_id = $2',
  'DELETE FROM topic_members WHERE tenant_id = $1 AND subscriber_id = $2',
  'DELETE FROM inbox_changes WHERE tenant_id = $1 AND subscriber_id = $2',
  'DELETE FROM inbox_cursors WHERE tenant_id = $1 AND subscriber_id = $2',
  // Open streams of theirs in a process that has not yet heard of the erasure only extend rows
  // that exist (refreshPresence): none is left to say the erased subscriber is online.
  'DELETE FROM inbox_presence WHERE tenant_id = $1 AND subscriber_id = $2',
];

/** Takes the subscriber out of these events' payloads (scrubEventPayload). */
async function scrubEvents(
  client: pg.PoolClient,
  request: Pick<ErasureRequest, 'tenantId' | 'subscriberId' | 'erasedId'>,
  eventIds: string[],
): Promise<void> {
  if (eventIds.length === 0) return;
  const { tenantId, subscriberId, erasedId } = request;
  // Only the events whose `to` names the subscriber are locked.
  const events = await client.query<{ id: string; payload: unknown }>(
    `SELECT id, payload ${EVENTS_NAMING_SUBSCRIBER} FOR UPDATE`,
    [tenantId, eventIds, subscriberId],
  );
  for (const event of events.rows) {
    // JSONB columns arrive as text (client.ts keeps them unparsed).
    const payload = typeof event.payload === 'string' ? JSON.parse(event.payload) : event.payload;
    const scrubbed = scrubEventPayload(payload, subscriberId, erasedId);
    if (scrubbed) {
      await client.query('UPDATE events SET payload = $3::jsonb WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        event.id,
        JSON.stringify(scrubbed),
      ]);
    }
  }
}

/** A digest still open gathers the subscriber's events and a key rendered from their data. */
async function eraseDigests(client: pg.PoolClient, request: ErasureRequest): Promise<void> {
  const { rows } = await client.query<{ id: string }>(
    'DELETE FROM digests WHERE tenant_id = $1 AND subscriber_id = $2 RETURNING id',
    [request.tenantId, request.subscriberId],
  );
  if (rows.length === 0) return;
  const events = await client.query<{ event_id: string }>(
    'DELETE FROM digest_events WHERE tenant_id = $1 AND digest_id = ANY($2::TEXT[]) RETURNING event_id',
    [request.tenantId, rows.map((row) => row.id)],
  );
  await scrubEvents(client, request, [...new Set(events.rows.map((row) => row.event_id))]);
}

/**
 * One batch of the events they were the actor of, named by the erased id instead: read through
 * the partial index of the events carrying one (049_events_by_actor.sql), whose condition is
 * repeated here so that it applies.
 */
async function eraseActorBatch(client: pg.PoolClient, request: ErasureRequest): Promise<number> {
  const { tenantId, subscriberId, erasedId, before, batch } = request;
  const { rowCount } = await client.query(
    `UPDATE events SET payload = jsonb_set(payload, '{actor}', to_jsonb($3::TEXT))
      WHERE tenant_id = $1 AND id IN (
        SELECT id FROM events
         WHERE tenant_id = $1 AND payload ? 'actor' AND payload->>'actor' = $2 AND created_at <= $4
         LIMIT $5 FOR UPDATE)`,
    [tenantId, subscriberId, erasedId, before, batch],
  );
  return rowCount ?? 0;
}

async function eraseBatch(client: pg.PoolClient, request: ErasureRequest): Promise<number> {
  const { tenantId, subscriberId, erasedId, before, batch, now } = request;
  const { rows } = await client.query<{ id: string; event_id: string }>(
    `SELECT id, event_id FROM messages WHERE tenant_id = $1 AND subscriber_id = $2 AND created_at <= $3
      ORDER BY id LIMIT $4 FOR UPDATE`,
    [tenantId, subscriberId, before, batch],
  );
  if (rows.length === 0) return 0;
  const ids = rows.map((row) => row.id);
  await scrubEvents(client, request, [...new Set(rows.map((row) => row.event_id))]);
  const at = new Date(now).toISOString();
  await client.query(
    `UPDATE messages SET status = 'cancelled', timeline = timeline || jsonb_build_array($3::jsonb)
      WHERE tenant_id = $1 AND id = ANY($2::TEXT[]) AND status IN (${CANCELLABLE_SQL})`,
    [tenantId, ids, JSON.stringify({ at, status: 'cancelled' })],
  );
  await client.query(
    `UPDATE messages SET subscriber_id = $3, content = '{}', data = '{}', meta = '{}', last_error = NULL,
       snoozed_until = NULL, updated_at = $4, timeline = ${STATUSES_ONLY} || jsonb_build_array($5::jsonb)
      WHERE tenant_id = $1 AND id = ANY($2::TEXT[])`,
    [tenantId, ids, erasedId, now, JSON.stringify(erasedEntry(now))],
  );
  await client.query('DELETE FROM sandbox_captures WHERE tenant_id = $1 AND message_id = ANY($2::TEXT[])', [
    tenantId,
    ids,
  ]);
  return ids.length;
}

export function postgresPersonalDataStore(pool: pg.Pool, personal: PersonalData): PersonalDataStore {
  return {
    async listConsentLog(tenantId, subscriberId, afterId, limit) {
      const { rows } = await run<ConsentRow>(
        pool,
        `SELECT id, at, change, source, detail FROM consent_log
          WHERE tenant_id = $1 AND subscriber_id = $2 AND id > $3 ORDER BY id LIMIT $4`,
        [tenantId, subscriberId, afterId, limit],
      );
      return rows.map(toConsent);
    },
    async subscriberTopics(tenantId, subscriberId) {
      const { rows } = await run<{ topic_key: string }>(
        pool,
        'SELECT topic_key FROM topic_members WHERE tenant_id = $1 AND subscriber_id = $2 ORDER BY topic_key',
        [tenantId, subscriberId],
      );
      return rows.map((row) => row.topic_key);
    },
    async pageDigestEvents(tenantId, subscriberId, after, limit) {
      const { rows } = await run<DigestEventRow>(
        pool,
        `SELECT d.id AS digest_id, d.workflow, d.opened_at, d.closes_at, e.event_id
           FROM digests AS d
           JOIN digest_events AS e ON e.tenant_id = d.tenant_id AND e.digest_id = d.id
          WHERE d.tenant_id = $1 AND d.subscriber_id = $2 AND (d.id, e.event_id) > ($3, $4)
          ORDER BY d.id, e.event_id LIMIT $5`,
        [tenantId, subscriberId, after?.digestId ?? '', after?.eventId ?? '', limit],
      );
      return rows.map(toDigestEventRef);
    },
    async eventsNaming(tenantId, eventIds, subscriberId) {
      if (eventIds.length === 0) return [];
      const { rows } = await run<{ id: string }>(pool, `SELECT id ${EVENTS_NAMING_SUBSCRIBER}`, [
        tenantId,
        eventIds,
        subscriberId,
      ]);
      return rows.map((row) => row.id);
    },
    async pageWaitingJobs(tenantId, after, limit) {
      const from = after ?? FIRST_WAITING;
      // The payloads of the kinds that carry events only: a webhook's may be large, and is not read.
      const { rows } = await run<WaitingJobRow>(
        pool,
        `SELECT id, run_at, kind, CASE WHEN kind IN ('fanout', 'deliver') THEN payload END AS payload
           FROM jobs
          WHERE state = 'ready' AND lane = $1 AND tenant_id = $2 AND (run_at, id) > ($3, $4)
          ORDER BY run_at, id LIMIT $5`,
        [from.lane, tenantId, from.runAt, from.id, limit],
      );
      return { jobs: rows.map(toWaitingJobRef), next: nextWaiting(from, rows, limit) };
    },
    async beginErasure(asked, job, notice) {
      // Takes effect from now at least: a message a delivery stamped after `asked.before` and
      // wrote before this began is theirs (the late pass catches those written as it commits).
      const request = { ...asked, before: Math.max(asked.before, Date.now()) };
      return transaction(pool, async (client) => {
        // Delivered by the commit below (or dropped with a rollback): see ChannelNotice.
        if (notice)
          await client.query('SELECT pg_notify($1, $2)', [channelName(notice.channel), notice.payload]);
        const { tenantId, subscriberId, erasedId } = request;
        const dropped = await client.query('DELETE FROM subscribers WHERE tenant_id = $1 AND id = $2', [
          tenantId,
          subscriberId,
        ]);
        await client.query(
          `INSERT INTO erasures (tenant_id, last_at) VALUES ($1, $2)
           ON CONFLICT (tenant_id) DO UPDATE SET last_at = GREATEST(erasures.last_at, EXCLUDED.last_at)`,
          [tenantId, request.now],
        );
        personal.forgetRecentValues();
        for (const sql of FORGET) await client.query(sql, [tenantId, subscriberId]);
        await client.query(
          `UPDATE consent_log SET subscriber_id = NULL, subscriber_hash = $3, detail = NULL
            WHERE tenant_id = $1 AND subscriber_id = $2`,
          [tenantId, subscriberId, erasedId],
        );
        await eraseDigests(client, request);
        await eraseBatch(client, request);
        await eraseActorBatch(client, request);
        const spec = typeof job === 'function' ? job(request.before) : job;
        await client.query(insertJobsFrom('$1'), [jobsParam([spec], request.now)]);
        return (dropped.rowCount ?? 0) > 0;
      });
    },
    async eraseMessages(request) {
      return transaction(pool, (client) => eraseBatch(client, request));
    },
    async eraseActorEvents(request) {
      return transaction(pool, (client) => eraseActorBatch(client, request));
    },
    async eraseSkippedSteps(request) {
      const { tenantId, subscriberId, erasedId, before, batch } = request;
      return transaction(pool, async (client) => {
        const { rows } = await client.query<{ event_id: string; step: number }>(
          `SELECT event_id, step FROM skipped_steps
            WHERE tenant_id = $1 AND subscriber_id = $2 AND created_at <= $3 LIMIT $4 FOR UPDATE`,
          [tenantId, subscriberId, before, batch],
        );
        if (rows.length === 0) return 0;
        // Events only a skipped step knew (every step skipped for them) hold their data too.
        const eventIds = rows.map((row) => row.event_id);
        await scrubEvents(client, request, [...new Set(eventIds)]);
        const steps = rows.map((row) => row.step);
        // The erased id is the same for every erasure of that id: a re-created subscriber erased
        // again may hold a step of the same event, which the earlier erasure's row already names.
        await client.query(
          `DELETE FROM skipped_steps s USING unnest($2::TEXT[], $4::INT[]) AS r(event_id, step)
            WHERE s.tenant_id = $1 AND s.event_id = r.event_id AND s.step = r.step AND s.subscriber_id = $3`,
          [tenantId, eventIds, erasedId, steps],
        );
        await client.query(
          `UPDATE skipped_steps s SET subscriber_id = $3 FROM unnest($2::TEXT[], $5::INT[]) AS r(event_id, step)
            WHERE s.tenant_id = $1 AND s.event_id = r.event_id AND s.step = r.step AND s.subscriber_id = $4`,
          [tenantId, eventIds, erasedId, subscriberId, steps],
        );
        return rows.length;
      });
    },
    async eraseRateCounters(request, from, limit) {
      return transaction(pool, async (client) => {
        const dropOwn = (own: string) =>
          client.query(
            `DELETE FROM rate_counters
              WHERE tenant_id = $1 AND (scope = $2 OR (scope > ($2 || chr(31)) AND scope < ($2 || chr(32))))`,
            [request.tenantId, own],
          );
        // The daily cap's counter is theirs alone: its scope is deleted as a rule's own scope is.
        if (from === null) await dropOwn(dailyCapScope(request.subscriberId));
        let at = from ?? FIRST_RULE_SCOPE;
        for (let rule = 0; rule < limit; rule++) {
          const { rows } = await client.query<{ scope: string }>(
            'SELECT scope FROM rate_counters WHERE tenant_id = $1 AND scope >= $2 ORDER BY scope LIMIT 1',
            [request.tenantId, at],
          );
          if (rows.length === 0) return null;
          const { own, next } = rateCountersOf(rows[0]!.scope, request.subscriberId);
          if (own) await dropOwn(own);
          at = next;
        }
        return at;
      });
    },
    // The old versions of the rows an erasure rewrote are dead tuples: no query, dump or backup
    // (pg_dump) reads them, and VACUUM (autovacuum) reclaims their space.
    async settleErasure() {},
    async scrubEventsOf(who, eventIds) {
      if (eventIds.length === 0) return;
      await transaction(pool, (client) => scrubEvents(client, who, eventIds));
    },
    async scrubWaitingEvents(request, after, limit, webhooksOnly = false) {
      const from = after ?? FIRST_WAITING;
      const { tenantId, subscriberId } = request;
      return transaction(pool, async (client) => {
        const { rows } = await client.query<WaitingJobRow>(
          `SELECT id, run_at, kind, state, payload, partition_key FROM jobs
            WHERE state = 'ready' AND lane = $1 AND tenant_id = $2 AND (run_at, id) > ($3, $4)
            ORDER BY run_at, id LIMIT $5`,
          [from.lane, tenantId, from.runAt, from.id, limit],
        );
        // Jobs running right now, once: a handful per worker.
        const running =
          after === null
            ? (
                await client.query<WaitingJobRow>(
                  `SELECT id, run_at, kind, state, payload, partition_key FROM jobs WHERE state = 'leased' AND tenant_id = $1`,
                  [tenantId],
                )
              ).rows
            : [];
        const only = webhooksOnly ? messagesUpTo(request) : undefined;
        const found = waitingFor([...running, ...rows], subscriberId, request.erasedId, only);
        await scrubEvents(client, request, found.eventIds);
        for (const rewrite of found.rewrites)
          await client.query('UPDATE jobs SET payload = $2::jsonb WHERE id = $1', [
            rewrite.id,
            JSON.stringify(rewrite.payload),
          ]);
        if (found.drops.length > 0)
          await client.query(`DELETE FROM jobs WHERE id = ANY($1::BIGINT[]) AND state = 'ready'`, [
            found.drops,
          ]);
        return nextWaiting(from, rows, limit);
      });
    },
    async purgeExpired(table, tenantId, before, limit) {
      const { idColumn, key } = EXPIRING[table];
      // An event scheduled further ahead than the retention stays until its send time has passed.
      const scheduled =
        table === 'events'
          ? `AND coalesce(extract(epoch FROM (payload->>'sendAt')::timestamptz) * 1000, 0) < $3`
          : '';
      const { rowCount } = await run(
        pool,
        `DELETE FROM ${table} WHERE tenant_id = $1 AND (${key}) IN (
           SELECT ${key} FROM ${table} WHERE tenant_id = $1 AND ${idColumn} < $2 AND created_at < $3
              ${scheduled} LIMIT $4)`,
        [tenantId, expiryFloor(table, before), before, limit],
      );
      return rowCount ?? 0;
    },
    async purgeDeadJobs(before, limit) {
      const { rowCount } = await run(
        pool,
        `DELETE FROM jobs WHERE id IN (
           SELECT id FROM jobs WHERE state = 'dead' AND created_at < $1 LIMIT $2)`,
        [before, limit],
      );
      return rowCount ?? 0;
    },
  };
}
