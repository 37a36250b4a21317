import type { PersonalData } from '../../security/personal-data.ts';
import { CANCELLABLE_SQL, cancelledByKeyEntry } from '../cancellation.ts';
import { eventInputByReference, sealInlineSubscribers } from '../personal-fields.ts';
import {
  type AcceptResult,
  type BulkResponse,
  DEFAULT_JOB_MAX_ATTEMPTS,
  EVENTS_PER_FIRST_JOB,
  type EventStore,
} from '../port.ts';
import { type BulkRow, type EventRow, toBulkResponse, toEvent } from '../rows.ts';
import { type Queryable, run } from './client.ts';
import { asJsonText, withDataText } from './ordered-json.ts';

/**
 * A tenant's ($1) events stored with the cancellation key $2, read through
 * events_by_cancellation_key (migration 012), whose predicate it repeats so the planner may use it.
 */
export const KEYED_EVENTS_SQL = `SELECT id, status FROM events
            WHERE tenant_id = $1 AND payload ? 'cancellationKey' AND payload->>'cancellationKey' = $2`;

export function postgresEventStore(db: Queryable, personal: PersonalData): EventStore {
  async function getBulk(tenantId: string, key: string, notBefore: number): Promise<BulkResponse | null> {
    const { rows } = await run<BulkRow>(
      db,
      `SELECT tenant_id, key, body_hash, response, created_at FROM bulk_responses
        WHERE tenant_id = $1 AND key = $2 AND created_at > $3`,
      [tenantId, key, notBefore],
    );
    return rows[0] ? toBulkResponse(rows[0]) : null;
  }

  return {
    async acceptEvents(events, windowMs) {
      if (events.length === 0) return [];
      // Keys are claimed in one order by every batch, so two batches sharing keys cannot deadlock.
      const order = events.map((_, i) => i);
      order.sort((a, b) => {
        const x = events[a]!;
        const y = events[b]!;
        const kx = `${x.tenantId}\u0000${x.idempotencyKey ?? ''}`;
        const ky = `${y.tenantId}\u0000${y.idempotencyKey ?? ''}`;
        return kx < ky ? -1 : kx > ky ? 1 : a - b;
      });
      const batch = order.map((i) => {
        const e = events[i]!;
        // Inline addresses are sealed into the subscriber rows only: the event names them by id.
        return {
          tenantId: e.tenantId,
          id: e.id,
          input: withDataText(eventInputByReference(e.input)),
          idempotencyKey: e.idempotencyKey,
          payloadHash: e.payloadHash,
          now: e.now,
          inlineSubscribers: sealInlineSubscribers(personal, e.inlineSubscribers).map(withDataText),
          subscriberIds: e.subscriberIds,
          job: e.job,
        };
      });
      const { rows } = await run<{ results: string }>(
        db,
        'SELECT tidings_accept($1::jsonb, $2, $3, $4) AS results',
        [JSON.stringify(batch), windowMs, EVENTS_PER_FIRST_JOB, DEFAULT_JOB_MAX_ATTEMPTS],
      );
      const sorted = JSON.parse(rows[0]!.results) as AcceptResult[];
      const results: AcceptResult[] = new Array(events.length);
      order.forEach((original, position) => {
        results[original] = sorted[position]!;
      });
      return results;
    },
    async getEvent(tenantId, id) {
      const { rows } = await run<EventRow>(db, 'SELECT * FROM events WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        id,
      ]);
      return rows[0] ? toEvent(rows[0]) : null;
    },
    async purgeIdempotencyKeys(before, limit) {
      const result = await run(
        db,
        `DELETE FROM idempotency_keys WHERE (tenant_id, key) IN
           (SELECT tenant_id, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)`,
        [before, limit],
      );
      return result.rowCount ?? 0;
    },
    async knownTopics(tenantId, keys) {
      if (keys.length === 0) return [];
      const { rows } = await run<{ key: string }>(
        db,
        'SELECT key FROM topics WHERE tenant_id = $1 AND key = ANY($2::TEXT[])',
        [tenantId, keys],
      );
      return rows.map((row) => row.key);
    },
    getBulkResponse: getBulk,
    async saveBulkResponse(response, windowMs) {
      const { tenantId, key, bodyHash, createdAt } = response;
      // Inserts, or takes over a response older than the window; either way answers the row
      // that holds the key. A concurrent insert of the same key waits for the first to commit
      // and then leaves it alone; the statement's snapshot predates that commit, so the row is
      // read again below in a statement of its own.
      const { rows } = await run<BulkRow>(
        db,
        `WITH saved AS (
           INSERT INTO bulk_responses AS cur (tenant_id, key, body_hash, response, created_at)
           VALUES ($1, $2, $3, $4::jsonb, $5)
           ON CONFLICT (tenant_id, key) DO UPDATE SET body_hash = excluded.body_hash,
             response = excluded.response, created_at = excluded.created_at
           WHERE cur.created_at <= $5 - $6
           RETURNING tenant_id, key, body_hash, response, created_at)
         SELECT * FROM saved
         UNION ALL
         SELECT tenant_id, key, body_hash, response, created_at FROM bulk_responses
          WHERE tenant_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM saved)`,
        [tenantId, key, bodyHash, JSON.stringify(asJsonText(response.response)), createdAt, windowMs],
      );
      if (rows[0]) return toBulkResponse(rows[0]);
      const held = await getBulk(tenantId, key, createdAt - windowMs);
      if (!held) throw new Error(`bulk response ${key} neither saved nor found`);
      return held;
    },
    async purgeBulkResponses(before, limit) {
      const result = await run(
        db,
        `DELETE FROM bulk_responses WHERE (tenant_id, key) IN
           (SELECT tenant_id, key FROM bulk_responses WHERE created_at < $1 ORDER BY created_at LIMIT $2)`,
        [before, limit],
      );
      return result.rowCount ?? 0;
    },
    async getEvents(refs) {
      if (refs.length === 0) return [];
      const { rows } = await run<EventRow>(
        db,
        `SELECT e.* FROM unnest($1::TEXT[], $2::TEXT[]) AS k(tenant_id, id)
           JOIN events e ON e.tenant_id = k.tenant_id AND e.id = k.id`,
        [refs.map((r) => r.tenantId), refs.map((r) => r.id)],
      );
      return rows.map(toEvent);
    },
    async cancelledEvents(tenantId, ids) {
      if (ids.length === 0) return [];
      const { rows } = await run<{ id: string }>(
        db,
        `SELECT id FROM events WHERE tenant_id = $1 AND id = ANY($2::TEXT[]) AND status = 'cancelled'`,
        [tenantId, ids],
      );
      return rows.map((row) => row.id);
    },
    async cancelEvent(tenantId, id, now) {
      const entry = JSON.stringify([
        { at: new Date(now).toISOString(), status: 'cancelled', detail: 'event cancelled' },
      ]);
      const { rows } = await run<{ n: number }>(
        db,
        `WITH e AS (UPDATE events SET status = 'cancelled' WHERE tenant_id = $1 AND id = $2),
              m AS (UPDATE messages SET status = 'cancelled', updated_at = $3, timeline = timeline || $4::jsonb
                     WHERE tenant_id = $1 AND event_id = $2 AND status IN (${CANCELLABLE_SQL}) RETURNING 1)
         SELECT count(*)::INT AS n FROM m`,
        [tenantId, id, now, entry],
      );
      return rows[0]!.n;
    },
    async cancelEventsByKey(tenantId, key, now) {
      // One statement, so one snapshot and one transaction. Messages of every
      // keyed event are stopped, those cancelled before too: a delivery already past its event
      // check may have written messages after that earlier cancel.
      const { rows } = await run<{ events: number; messages: number }>(
        db,
        `WITH keyed AS (${KEYED_EVENTS_SQL}),
         e AS (
           UPDATE events SET status = 'cancelled'
            WHERE tenant_id = $1 AND id IN (SELECT id FROM keyed WHERE status <> 'cancelled') RETURNING 1),
         m AS (
           UPDATE messages SET status = 'cancelled', updated_at = $3, timeline = timeline || $4::jsonb
            WHERE tenant_id = $1 AND event_id IN (SELECT id FROM keyed) AND status IN (${CANCELLABLE_SQL})
           RETURNING 1)
         SELECT (SELECT count(*) FROM e)::INT AS events, (SELECT count(*) FROM m)::INT AS messages`,
        [tenantId, key, now, JSON.stringify([cancelledByKeyEntry(key, now)])],
      );
      return rows[0]!;
    },
  };
}
