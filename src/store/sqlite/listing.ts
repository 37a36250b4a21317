import type Database from 'better-sqlite3';
import type { PersonalData } from '../../security/personal-data.ts';
import type { SubscriberPatch } from '../../shared/model.ts';
import { CANCELLABLE_SQL, workflowDeletedEntry } from '../cancellation.ts';
import type { ListingStore, TopicRecord } from '../port.ts';
import { type SubscriberRow, toSubscriber } from '../rows.ts';
import type { SubscriberStatements } from './subscribers.ts';

/** Rows a workflow's deletion walks per transaction (a few milliseconds' work each). */
const SCAN_RANGE = 5_000;

/** Above every id Tidings makes (ASCII): the upper bound of a walk's last range. */
const ABOVE_EVERY_ID = '\u{10ffff}';

const yieldLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

type TopicRow = { key: string; name: string | null; created_at: number };
const toTopic = (row: TopicRow): TopicRecord => ({ key: row.key, name: row.name, createdAt: row.created_at });

export function sqliteListingStore(
  db: Database.Database,
  subscribers: SubscriberStatements,
  personal: PersonalData,
): ListingStore {
  const subscribersFirst = db.prepare('SELECT * FROM subscribers WHERE tenant_id = ? ORDER BY id LIMIT ?');
  const subscribersAfter = db.prepare(
    'SELECT * FROM subscribers WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?',
  );
  const topicsFirst = db.prepare(
    'SELECT key, name, created_at FROM topics WHERE tenant_id = ? ORDER BY key LIMIT ?',
  );
  const topicsAfter = db.prepare(
    'SELECT key, name, created_at FROM topics WHERE tenant_id = ? AND key > ? ORDER BY key LIMIT ?',
  );
  const memberCounts = db.prepare(
    `SELECT topic_key AS key, COUNT(*) AS n FROM topic_members
     WHERE tenant_id = ? AND topic_key IN (SELECT value FROM json_each(?)) GROUP BY topic_key`,
  );
  const deleteWorkflowRow = db.prepare('DELETE FROM workflows WHERE tenant_id = ? AND key = ?');
  // A workflow's events, and their waiting messages, are found by walking the tenant's events a
  // range of the primary key at a time: one statement over all of them held the API thread —
  // every tenant's requests — ~0.2 s at 30,000 events, more with the tenant's other events. Each
  // range is one transaction, the event loop given back between. Rows stored after the deletion
  // (a workflow PUT again under the key) are not the deletion's: their rowids are above the
  // largest when it began.
  const lastEventRowid = db.prepare('SELECT max(rowid) FROM events').pluck();
  const lastMessageRowid = db.prepare('SELECT max(rowid) FROM messages').pluck();
  const eventRangeEnd = db
    .prepare('SELECT id FROM events WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT 1 OFFSET ?')
    .pluck();
  // `@upper` bounds a range through the primary key (the last range's is above every id), so
  // each statement reads its range only. Before its messages are cancelled: an event counts as
  // unsent while none of its messages left the waiting states.
  const cancelUnsentEvents = db.prepare(
    `UPDATE events SET status = 'cancelled'
     WHERE tenant_id = @tenantId AND id > @after AND id <= @upper
       AND workflow = @key AND status = 'accepted' AND rowid <= @eventsBefore
       AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = events.tenant_id
                        AND m.event_id = events.id AND m.status NOT IN (${CANCELLABLE_SQL}))`,
  );
  // An event that sent something and counts every part (a broadcast mid-way) has parts left that
  // will find no workflow and make nothing: none is left to run, or it would read `processing`
  // for good.
  const closeCountedEvents = db.prepare(
    `UPDATE events SET open_parts = 0
     WHERE tenant_id = @tenantId AND id > @after AND id <= @upper
       AND workflow = @key AND status = 'accepted' AND counts_every_part = 1 AND rowid <= @eventsBefore`,
  );
  // The range's events' waiting messages, through messages_by_event (those of cancelled events
  // too: a delivery past its check may have written some after).
  const cancelWaitingMessages = db.prepare(
    `UPDATE messages SET status = 'cancelled', updated_at = @now,
       timeline = json_insert(timeline, '$[#]', json(@entry))
     WHERE tenant_id = @tenantId
       AND event_id IN (SELECT id FROM events WHERE tenant_id = @tenantId AND id > @after AND id <= @upper
                          AND workflow = @key)
       AND workflow = @key AND status IN (${CANCELLABLE_SQL}) AND rowid <= @messagesBefore`,
  );
  const deleteWorkflowRange = db.transaction((range: Record<string, string | number>) => {
    const events = cancelUnsentEvents.run(range).changes;
    closeCountedEvents.run(range);
    return { events, messages: cancelWaitingMessages.run(range).changes };
  });
  const deleteIntegrationRow = db.prepare('DELETE FROM integrations WHERE tenant_id = ? AND id = ?');
  const deleteCircuit = db.prepare(
    'DELETE FROM integration_circuits WHERE tenant_id = ? AND integration_id = ?',
  );
  const deleteIntegration = db.transaction((tenantId: string, id: string) => {
    deleteCircuit.run(tenantId, id);
    return deleteIntegrationRow.run(tenantId, id).changes > 0;
  });
  const deleteTopicRow = db.prepare('DELETE FROM topics WHERE tenant_id = ? AND key = ?');
  const deleteMembers = db.prepare('DELETE FROM topic_members WHERE tenant_id = ? AND topic_key = ?');
  const deleteTopic = db.transaction((tenantId: string, key: string) => {
    deleteMembers.run(tenantId, key);
    return deleteTopicRow.run(tenantId, key).changes > 0;
  });
  const upsertMany = db.transaction(
    (tenantId: string, items: ({ id: string } & SubscriberPatch)[], now: number) =>
      items.map(({ id, ...patch }) => subscribers.upsert(tenantId, id, patch, now)),
  );

  return {
    async listSubscribers(tenantId, after, limit) {
      const rows = (
        after === null ? subscribersFirst.all(tenantId, limit) : subscribersAfter.all(tenantId, after, limit)
      ) as SubscriberRow[];
      return rows.map((row) => toSubscriber(row, personal));
    },
    async listTopics(tenantId, after, limit) {
      const rows = (
        after === null ? topicsFirst.all(tenantId, limit) : topicsAfter.all(tenantId, after, limit)
      ) as TopicRow[];
      return rows.map(toTopic);
    },
    async countTopicMembersOf(tenantId, keys) {
      if (keys.length === 0) return new Map();
      const rows = memberCounts.all(tenantId, JSON.stringify(keys)) as { key: string; n: number }[];
      return new Map(rows.map((row) => [row.key, row.n]));
    },
    async upsertSubscribers(tenantId, items, now) {
      return upsertMany.immediate(tenantId, items, now);
    },
    async deleteWorkflow(tenantId, key, now) {
      if (deleteWorkflowRow.run(tenantId, key).changes === 0) return null;
      const entry = JSON.stringify(workflowDeletedEntry(key, now));
      const eventsBefore = (lastEventRowid.get() as number | null) ?? 0;
      const messagesBefore = (lastMessageRowid.get() as number | null) ?? 0;
      const stopped = { events: 0, messages: 0 };
      let after = '';
      for (;;) {
        // The range ends at the event SCAN_RANGE on, or (the last) above every id.
        const last = eventRangeEnd.get(tenantId, after, SCAN_RANGE - 1) as string | undefined;
        const upper = last ?? ABOVE_EVERY_ID;
        const done = deleteWorkflowRange.immediate({
          tenantId,
          key,
          after,
          upper,
          now,
          entry,
          eventsBefore,
          messagesBefore,
        });
        stopped.events += done.events;
        stopped.messages += done.messages;
        if (last === undefined) break;
        after = last;
        await yieldLoop();
      }
      return stopped;
    },
    async deleteIntegration(tenantId, id) {
      return deleteIntegration.immediate(tenantId, id);
    },
    async deleteTopic(tenantId, key) {
      return deleteTopic.immediate(tenantId, key);
    },
  };
}
