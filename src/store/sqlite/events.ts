import type Database from 'better-sqlite3';
import type { PersonalData } from '../../security/personal-data.ts';
import type { EventRecord, Lane } from '../../shared/model.ts';
import { CANCELLABLE_SQL, cancelledByKeyEntry } from '../cancellation.ts';
import { FirstJobs } from '../first-jobs.ts';
import { eventInputByReference, sealInlineSubscribers } from '../personal-fields.ts';
import type { AcceptEvent, AcceptResult, BulkResponse, EventStore } from '../port.ts';
import { type BulkRow, type EventRow, type SubscriberRow, toBulkResponse, toEvent } from '../rows.ts';
import type { JobStatements } from './jobs.ts';
import type { SubscriberStatements } from './subscribers.ts';

/**
 * The ids of a tenant's events stored with a cancellation key, read through
 * events_by_cancellation_key (migration 013): the index's own predicate and expression are
 * repeated word for word, or SQLite would read every event of the tenant.
 */
export const KEYED_EVENTS_SQL = `SELECT rowid AS r, id FROM events WHERE tenant_id = @tenantId
       AND instr(payload, '"cancellationKey"') > 0
       AND json_extract(payload, '$.cancellationKey') = @key`;

/**
 * Keyed events a cancel changes per transaction. A campaign's key may be on hundreds of thousands
 * of events: cancelled in one transaction, 30,000 of them held the API thread (every tenant's
 * requests) ~120–220 ms; a page of 500 is a few milliseconds, the event loop given back between.
 */
export const CANCEL_PAGE = 500;

interface WorkflowLane {
  lane: Lane;
  version: number;
}

export function sqliteEventStore(
  db: Database.Database,
  jobs: JobStatements,
  subscribers: SubscriberStatements,
  personal: PersonalData,
): EventStore {
  // The workflow's lane and its current version, which the event keeps (it renders with it).
  const workflowPriority = db.prepare(
    `SELECT COALESCE(json_extract(definition, '$.priority'), 'normal') AS lane, version
       FROM workflows WHERE tenant_id = ? AND key = ?`,
  );
  const findKey = db.prepare(
    'SELECT event_id, payload_hash, created_at FROM idempotency_keys WHERE tenant_id = ? AND key = ?',
  );
  const putKey = db.prepare(
    `INSERT INTO idempotency_keys (tenant_id, key, event_id, payload_hash, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, key) DO UPDATE SET event_id = excluded.event_id,
       payload_hash = excluded.payload_hash, created_at = excluded.created_at`,
  );
  // One open part: the event's first (fanout) job (EventRecord.openParts).
  const insertEvent = db.prepare(
    `INSERT INTO events (tenant_id, id, workflow, payload, priority, status, created_at, workflow_version,
       open_parts, counts_every_part)
     VALUES (?, ?, ?, ?, ?, 'accepted', ?, ?, 1, 0)`,
  );
  const getEvent = db.prepare('SELECT * FROM events WHERE tenant_id = ? AND id = ?');
  const getEventsOf = db.prepare(
    'SELECT * FROM events WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))',
  );
  const purgeKeys = db.prepare(
    `DELETE FROM idempotency_keys WHERE (tenant_id, key) IN
       (SELECT tenant_id, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
  );
  const topicsAmong = db
    .prepare('SELECT key FROM topics WHERE tenant_id = ? AND key IN (SELECT value FROM json_each(?))')
    .pluck();
  const getBulk = db.prepare(
    `SELECT tenant_id, key, body_hash, response, created_at FROM bulk_responses
     WHERE tenant_id = ? AND key = ? AND created_at > ?`,
  );
  // Takes the key over only from a response older than the window (its created_at <= cutoff).
  const putBulk = db.prepare(
    `INSERT INTO bulk_responses (tenant_id, key, body_hash, response, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, key) DO UPDATE SET body_hash = excluded.body_hash,
       response = excluded.response, created_at = excluded.created_at
     WHERE bulk_responses.created_at <= ?`,
  );
  const purgeBulk = db.prepare(
    `DELETE FROM bulk_responses WHERE rowid IN
       (SELECT rowid FROM bulk_responses WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
  );
  const readBulk = (tenantId: string, key: string, notBefore: number): BulkResponse | null => {
    const row = getBulk.get(tenantId, key, notBefore) as BulkRow | undefined;
    return row ? toBulkResponse(row) : null;
  };
  const saveBulk = db.transaction((response: BulkResponse, windowMs: number) => {
    const { tenantId, key, bodyHash, createdAt } = response;
    putBulk.run(tenantId, key, bodyHash, JSON.stringify(response.response), createdAt, createdAt - windowMs);
    return readBulk(tenantId, key, createdAt - windowMs)!;
  });
  const setStatus = db.prepare('UPDATE events SET status = ? WHERE tenant_id = ? AND id = ?');
  const cancelledOf = db
    .prepare(
      `SELECT id FROM events WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?)) AND status = 'cancelled'`,
    )
    .pluck();
  const cancelMessages = db.prepare(
    `UPDATE messages SET status = 'cancelled', updated_at = @now,
       timeline = json_insert(timeline, '$[#]', json(@entry))
     WHERE tenant_id = @tenantId AND event_id = @id AND status IN (${CANCELLABLE_SQL})`,
  );
  // In rowid order, which the index keeps for one key: a page resumes after the last one seen.
  const keyedPage = db.prepare(
    `${KEYED_EVENTS_SQL} AND rowid > @after AND rowid <= @last ORDER BY rowid LIMIT @limit`,
  );
  const lastEventRowid = db.prepare('SELECT max(rowid) FROM events').pluck();
  const cancelEventsOf = db.prepare(
    `UPDATE events SET status = 'cancelled'
      WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?)) AND status <> 'cancelled'`,
  );
  // Every keyed event's messages, those cancelled before too: a delivery that was already past
  // its event check may have written messages after that earlier cancel.
  const cancelMessagesOf = db.prepare(
    `UPDATE messages SET status = 'cancelled', updated_at = @now,
       timeline = json_insert(timeline, '$[#]', json(@entry))
     WHERE tenant_id = @tenantId AND event_id IN (SELECT value FROM json_each(@ids))
       AND status IN (${CANCELLABLE_SQL})`,
  );
  /** One page of keyed events with their messages, in one transaction. */
  const cancelPage = db.transaction((tenantId: string, ids: string[], now: number, entry: string) => {
    const list = JSON.stringify(ids);
    return {
      events: cancelEventsOf.run(tenantId, list).changes,
      messages: cancelMessagesOf.run({ tenantId, ids: list, now, entry }).changes,
    };
  });

  function acceptOne(
    event: AcceptEvent,
    windowMs: number,
    lanes: Map<string, WorkflowLane | undefined>,
    firstJobs: FirstJobs,
  ): AcceptResult {
    // A batch usually triggers a handful of workflows: look each one up once.
    const workflowKey = `${event.tenantId}\u0000${event.input.workflow}`;
    if (!lanes.has(workflowKey)) {
      lanes.set(
        workflowKey,
        workflowPriority.get(event.tenantId, event.input.workflow) as WorkflowLane | undefined,
      );
    }
    const workflow = lanes.get(workflowKey);
    if (workflow === undefined) return { ok: false, code: 'workflow_not_found' };
    const lane = event.input.priority ?? workflow.lane;
    if (event.idempotencyKey !== null) {
      const seen = findKey.get(event.tenantId, event.idempotencyKey) as
        | { event_id: string; payload_hash: string; created_at: number }
        | undefined;
      if (seen && seen.created_at > event.now - windowMs) {
        return seen.payload_hash === event.payloadHash
          ? { ok: true, eventId: seen.event_id, duplicate: true }
          : { ok: false, code: 'idempotency_key_reused', eventId: seen.event_id };
      }
      putKey.run(event.tenantId, event.idempotencyKey, event.id, event.payloadHash, event.now);
    }
    // Inline addresses are sealed into the subscriber rows only (an address a row already holds
    // keeps its sealed value); the event names those recipients by id. Each row is read once.
    const read = new Map<string, SubscriberRow | undefined>();
    const inline = sealInlineSubscribers(personal, event.inlineSubscribers, (id) => {
      const row = subscribers.stored(event.tenantId, id);
      read.set(id, row);
      return row;
    });
    insertEvent.run(
      event.tenantId,
      event.id,
      event.input.workflow,
      JSON.stringify(eventInputByReference(event.input)),
      lane,
      event.now,
      workflow.version,
    );
    for (const id of event.subscriberIds) subscribers.createEmpty(event.tenantId, id, event.now);
    for (const { id, ...patch } of inline) {
      // A plain id of the same subscriber created its row just now, and a second inline entry
      // for it must see the first one's write: only an untouched first read is passed on.
      const before = event.subscriberIds.length === 0 ? read.get(id) : undefined;
      read.delete(id);
      subscribers.upsertInline(event.tenantId, id, patch, event.now, before);
    }
    firstJobs.add(event, lane);
    return { ok: true, eventId: event.id, duplicate: false, lane };
  }

  // One transaction for the whole batch: concurrent requests are grouped into one commit (see ingest/).
  const acceptAll = db.transaction((events: AcceptEvent[], windowMs: number) => {
    const lanes = new Map<string, WorkflowLane | undefined>();
    const firstJobs = new FirstJobs();
    const results = events.map((event) => acceptOne(event, windowMs, lanes, firstJobs));
    for (const spec of firstJobs.specs()) jobs.enqueue(spec);
    return results;
  });

  return {
    async acceptEvents(events, windowMs) {
      return acceptAll.immediate(events, windowMs);
    },
    async getEvent(tenantId, id) {
      const row = getEvent.get(tenantId, id) as EventRow | undefined;
      return row ? toEvent(row) : null;
    },
    async purgeIdempotencyKeys(before, limit) {
      return purgeKeys.run(before, limit).changes;
    },
    async knownTopics(tenantId, keys) {
      if (keys.length === 0) return [];
      return topicsAmong.all(tenantId, JSON.stringify(keys)) as string[];
    },
    async getBulkResponse(tenantId, key, notBefore) {
      return readBulk(tenantId, key, notBefore);
    },
    async saveBulkResponse(response, windowMs) {
      return saveBulk.immediate(response, windowMs);
    },
    async purgeBulkResponses(before, limit) {
      return purgeBulk.run(before, limit).changes;
    },
    async getEvents(refs) {
      // One statement per tenant in the batch (usually one), not one per event.
      const byTenant = new Map<string, string[]>();
      for (const ref of refs) {
        const ids = byTenant.get(ref.tenantId);
        if (ids) ids.push(ref.id);
        else byTenant.set(ref.tenantId, [ref.id]);
      }
      const found: EventRecord[] = [];
      for (const [tenantId, ids] of byTenant)
        for (const row of getEventsOf.all(tenantId, JSON.stringify(ids)) as EventRow[])
          found.push(toEvent(row));
      return found;
    },
    async cancelledEvents(tenantId, ids) {
      if (ids.length === 0) return [];
      return cancelledOf.all(tenantId, JSON.stringify(ids)) as string[];
    },
    async cancelEvent(tenantId, id, now) {
      return db
        .transaction(() => {
          setStatus.run('cancelled', tenantId, id);
          const entry = JSON.stringify({
            at: new Date(now).toISOString(),
            status: 'cancelled',
            detail: 'event cancelled',
          });
          return cancelMessages.run({ tenantId, id, now, entry }).changes;
        })
        .immediate();
    },
    async cancelEventsByKey(tenantId, key, now) {
      const entry = JSON.stringify(cancelledByKeyEntry(key, now));
      // Events stored from here on (their rowids above `last`) are not this cancel's.
      const last = (lastEventRowid.get() as number | null) ?? 0;
      const cancelled = { events: 0, messages: 0 };
      let after = 0;
      for (;;) {
        const page = keyedPage.all({ tenantId, key, after, last, limit: CANCEL_PAGE }) as {
          r: number;
          id: string;
        }[];
        if (page.length === 0) break;
        const done = cancelPage.immediate(
          tenantId,
          page.map((row) => row.id),
          now,
          entry,
        );
        cancelled.events += done.events;
        cancelled.messages += done.messages;
        if (page.length < CANCEL_PAGE) break;
        after = page.at(-1)!.r;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      return cancelled;
    },
  };
}
