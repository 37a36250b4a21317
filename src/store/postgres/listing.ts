import type pg from 'pg';
import type { PersonalData } from '../../security/personal-data.ts';
import { CANCELLABLE_SQL, workflowDeletedEntry } from '../cancellation.ts';
import { sealSubscriberPatch } from '../personal-fields.ts';
import type { ListingStore, TopicRecord } from '../port.ts';
import { type SubscriberRow, toSubscriber } from '../rows.ts';
import { run, transaction } from './client.ts';
import { withDataText } from './ordered-json.ts';
import { UPSERT_SUBSCRIBER } from './subscribers.ts';

type TopicRow = { key: string; name: string | null; created_at: number };
const toTopic = (row: TopicRow): TopicRecord => ({ key: row.key, name: row.name, createdAt: row.created_at });

export function postgresListingStore(pool: pg.Pool, personal: PersonalData): ListingStore {
  const asSubscriber = (row: SubscriberRow) => toSubscriber(row, personal);
  return {
    async listSubscribers(tenantId, after, limit) {
      const { rows } = await run<SubscriberRow>(
        pool,
        `SELECT * FROM subscribers WHERE tenant_id = $1 AND ($2::TEXT IS NULL OR id > $2)
         ORDER BY id COLLATE "C" LIMIT $3`,
        [tenantId, after, limit],
      );
      return rows.map(asSubscriber);
    },
    async listTopics(tenantId, after, limit) {
      const { rows } = await run<TopicRow>(
        pool,
        `SELECT key, name, created_at FROM topics WHERE tenant_id = $1 AND ($2::TEXT IS NULL OR key > $2)
         ORDER BY key COLLATE "C" LIMIT $3`,
        [tenantId, after, limit],
      );
      return rows.map(toTopic);
    },
    async countTopicMembersOf(tenantId, keys) {
      if (keys.length === 0) return new Map();
      const { rows } = await run<{ key: string; n: number }>(
        pool,
        `SELECT topic_key AS key, count(*)::INT AS n FROM topic_members
         WHERE tenant_id = $1 AND topic_key = ANY($2::TEXT[]) GROUP BY topic_key`,
        [tenantId, keys],
      );
      return new Map(rows.map((row) => [row.key, row.n]));
    },
    async upsertSubscribers(tenantId, items, now) {
      // In id order, so two bulk requests naming the same subscribers never deadlock; answered in
      // the order given.
      const order = items.map((_, i) => i).sort((a, b) => (items[a]!.id < items[b]!.id ? -1 : 1));
      return transaction(pool, async (client) => {
        const out: ReturnType<typeof toSubscriber>[] = new Array(items.length);
        for (const i of order) {
          const { id, ...patch } = items[i]!;
          const { rows } = await client.query<SubscriberRow>(UPSERT_SUBSCRIBER, [
            tenantId,
            id,
            JSON.stringify(withDataText(sealSubscriberPatch(personal, patch))),
            now,
          ]);
          out[i] = asSubscriber(rows[0]!);
        }
        return out;
      });
    },
    async deleteWorkflow(tenantId, key, now) {
      const entry = JSON.stringify([workflowDeletedEntry(key, now)]);
      // One statement, one snapshot: the events' check sees the messages as they were before
      // this statement cancelled the waiting ones.
      const { rows } = await run<{ deleted: number; events: number; messages: number }>(
        pool,
        `WITH w AS (DELETE FROM workflows WHERE tenant_id = $1 AND key = $2 RETURNING 1),
         -- An unsent event is cancelled; one that sent something and counts every part (a
         -- broadcast mid-way) has parts left that will find no workflow and make nothing: none is
         -- left to run, or it would read processing for good. One UPDATE: a row changes once.
         e AS (
           UPDATE events SET
             status = CASE WHEN u.unsent THEN 'cancelled' ELSE events.status END,
             open_parts = CASE WHEN u.unsent THEN events.open_parts ELSE 0 END
             FROM (SELECT ev.id, NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = ev.tenant_id
                            AND m.event_id = ev.id AND m.status NOT IN (${CANCELLABLE_SQL})) AS unsent
                     FROM events ev
                    WHERE ev.tenant_id = $1 AND ev.workflow = $2 AND ev.status = 'accepted') AS u
            WHERE events.tenant_id = $1 AND events.id = u.id AND EXISTS (SELECT 1 FROM w)
              AND (u.unsent OR events.counts_every_part)
           RETURNING u.unsent),
         m AS (
           UPDATE messages SET status = 'cancelled', updated_at = $3, timeline = timeline || $4::jsonb
            WHERE tenant_id = $1 AND workflow = $2 AND status IN (${CANCELLABLE_SQL}) AND EXISTS (SELECT 1 FROM w)
           RETURNING 1)
         SELECT (SELECT count(*) FROM w)::INT AS deleted, (SELECT count(*) FROM e WHERE unsent)::INT AS events,
                (SELECT count(*) FROM m)::INT AS messages`,
        [tenantId, key, now, entry],
      );
      const row = rows[0]!;
      return row.deleted === 0 ? null : { events: row.events, messages: row.messages };
    },
    async deleteIntegration(tenantId, id) {
      const { rows } = await run<{ n: number }>(
        pool,
        `WITH c AS (DELETE FROM integration_circuits WHERE tenant_id = $1 AND integration_id = $2),
         i AS (DELETE FROM integrations WHERE tenant_id = $1 AND id = $2 RETURNING 1)
         SELECT count(*)::INT AS n FROM i`,
        [tenantId, id],
      );
      return rows[0]!.n > 0;
    },
    async deleteTopic(tenantId, key) {
      // The topic row first: it waits for an add of members holding it (addTopicMembers takes it
      // FOR KEY SHARE), and the members are deleted in a later statement, whose snapshot has that
      // add's rows. In one statement the members were read before the add committed and stayed.
      return transaction(pool, async (client) => {
        const topic = await run(client, 'DELETE FROM topics WHERE tenant_id = $1 AND key = $2', [
          tenantId,
          key,
        ]);
        await run(client, 'DELETE FROM topic_members WHERE tenant_id = $1 AND topic_key = $2', [
          tenantId,
          key,
        ]);
        return (topic.rowCount ?? 0) > 0;
      });
    },
  };
}
