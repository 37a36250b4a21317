import type { PersonalData } from '../../security/personal-data.ts';
import { sealSubscriberPatch } from '../personal-fields.ts';
import type { SubscriberStore } from '../port.ts';
import { type SubscriberRow, toSubscriber } from '../rows.ts';
import { type Queryable, run } from './client.ts';
import { withDataText } from './ordered-json.ts';

// Fields present in the patch are set (null clears one); absent fields are kept.
// Email and phone arrive sealed, with their hashes (src/store/personal-fields.ts); data as its
// JSON text (ordered-json.ts), or an object.
export const UPSERT_SUBSCRIBER = `INSERT INTO subscribers AS cur (tenant_id, id, email, phone, email_hash, phone_hash,
    locale, timezone, data, created_at, updated_at)
  VALUES ($1, $2, $3::jsonb->>'email', $3::jsonb->>'phone', $3::jsonb->>'emailHash', $3::jsonb->>'phoneHash',
          $3::jsonb->>'locale', $3::jsonb->>'timezone',
          CASE WHEN jsonb_typeof($3::jsonb->'data') IN ('object', 'string') THEN $3::jsonb->'data' ELSE '{}' END, $4, $4)
  ON CONFLICT (tenant_id, id) DO UPDATE SET
    email = CASE WHEN $3::jsonb ? 'email' THEN excluded.email ELSE cur.email END,
    phone = CASE WHEN $3::jsonb ? 'phone' THEN excluded.phone ELSE cur.phone END,
    email_hash = CASE WHEN $3::jsonb ? 'email' THEN excluded.email_hash ELSE cur.email_hash END,
    phone_hash = CASE WHEN $3::jsonb ? 'phone' THEN excluded.phone_hash ELSE cur.phone_hash END,
    locale = CASE WHEN $3::jsonb ? 'locale' THEN excluded.locale ELSE cur.locale END,
    timezone = CASE WHEN $3::jsonb ? 'timezone' THEN excluded.timezone ELSE cur.timezone END,
    data = CASE WHEN $3::jsonb ? 'data' THEN excluded.data ELSE cur.data END,
    updated_at = excluded.updated_at
  RETURNING *`;

/** Creates the unknown ones among `$2` (ids) of tenant `$1`, empty, at `$3`; sorted, so writers never deadlock. */
const CREATE_EMPTY = `INSERT INTO subscribers (tenant_id, id, created_at, updated_at)
  SELECT $1, x, $3, $3 FROM unnest($2::TEXT[]) AS x ORDER BY x ON CONFLICT DO NOTHING`;

type Topic = { key: string; name: string | null; created_at: number };

export function postgresSubscriberStore(db: Queryable, personal: PersonalData): SubscriberStore {
  const asSubscriber = (row: SubscriberRow) => toSubscriber(row, personal);
  const toTopic = (row: Topic) => ({ key: row.key, name: row.name, createdAt: row.created_at });

  return {
    async upsertSubscriber(tenantId, id, patch, now) {
      const { rows } = await run<SubscriberRow>(db, UPSERT_SUBSCRIBER, [
        tenantId,
        id,
        JSON.stringify(withDataText(sealSubscriberPatch(personal, patch))),
        now,
      ]);
      return asSubscriber(rows[0]!);
    },
    async getSubscriber(tenantId, id) {
      const { rows } = await run<SubscriberRow>(
        db,
        'SELECT * FROM subscribers WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      );
      return rows[0] ? asSubscriber(rows[0]) : null;
    },
    async getSubscribers(tenantId, ids) {
      if (ids.length === 0) return [];
      const { rows } = await run<SubscriberRow>(
        db,
        'SELECT * FROM subscribers WHERE tenant_id = $1 AND id = ANY($2::TEXT[])',
        [tenantId, ids],
      );
      return rows.map(asSubscriber);
    },
    async loadOrCreateSubscribers(tenantId, ids, now) {
      if (ids.length === 0) return [];
      const { rows } = await run<SubscriberRow>(
        db,
        `WITH created AS (${CREATE_EMPTY} RETURNING *)
         SELECT * FROM created
         UNION ALL
         SELECT * FROM subscribers WHERE tenant_id = $1 AND id = ANY($2::TEXT[])`,
        [tenantId, ids, now],
      );
      // A statement's parts share one snapshot: existing rows come from the SELECT, new ones from
      // RETURNING. A row another transaction committed meanwhile is in neither: read it again.
      const byId = new Map(rows.map((row) => [row.id, row]));
      const missing = ids.filter((id) => !byId.has(id));
      if (missing.length > 0) {
        const again = await run<SubscriberRow>(
          db,
          'SELECT * FROM subscribers WHERE tenant_id = $1 AND id = ANY($2::TEXT[])',
          [tenantId, missing],
        );
        for (const row of again.rows) byId.set(row.id, row);
      }
      return ids.flatMap((id) => {
        const row = byId.get(id);
        return row ? [asSubscriber(row)] : [];
      });
    },
    async upsertTopic(tenantId, key, name, now) {
      const { rows } = await run<Topic>(
        db,
        `INSERT INTO topics AS cur (tenant_id, key, name, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, key) DO UPDATE SET name = COALESCE(excluded.name, cur.name)
         RETURNING key, name, created_at`,
        [tenantId, key, name, now],
      );
      return toTopic(rows[0]!);
    },
    async getTopic(tenantId, key) {
      const { rows } = await run<Topic>(
        db,
        'SELECT key, name, created_at FROM topics WHERE tenant_id = $1 AND key = $2',
        [tenantId, key],
      );
      return rows[0] ? toTopic(rows[0]) : null;
    },
    async addTopicMembers(tenantId, key, subscriberIds, now) {
      // Nothing is written unless the topic exists. Its row is held (FOR KEY SHARE: a rename may
      // go on, a delete waits) until these members are committed, so deleteTopic, which deletes
      // the row before the members, never misses them; once it is deleted, nothing is added.
      const { rows } = await run<{ found: boolean; added: number }>(
        db,
        `WITH t AS (SELECT 1 FROM topics WHERE tenant_id = $1 AND key = $4 FOR KEY SHARE),
         x AS (SELECT x FROM unnest($2::TEXT[]) AS x WHERE EXISTS (SELECT 1 FROM t) ORDER BY x),
         s AS (INSERT INTO subscribers (tenant_id, id, created_at, updated_at)
               SELECT $1, x, $3, $3 FROM x ORDER BY x ON CONFLICT DO NOTHING),
         m AS (INSERT INTO topic_members (tenant_id, topic_key, subscriber_id, created_at)
               SELECT $1, $4, x, $3 FROM x ORDER BY x ON CONFLICT DO NOTHING RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM t) AS found, (SELECT count(*)::INT FROM m) AS added`,
        [tenantId, subscriberIds, now, key],
      );
      return rows[0]!.found ? rows[0]!.added : null;
    },
    async removeTopicMember(tenantId, key, subscriberId) {
      const result = await run(
        db,
        'DELETE FROM topic_members WHERE tenant_id = $1 AND topic_key = $2 AND subscriber_id = $3',
        [tenantId, key, subscriberId],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async topicMembersPage(tenantId, key, afterId, limit) {
      const { rows } = await run<{ subscriber_id: string }>(
        db,
        `SELECT subscriber_id FROM topic_members WHERE tenant_id = $1 AND topic_key = $2 AND subscriber_id > $3
         ORDER BY subscriber_id LIMIT $4`,
        [tenantId, key, afterId ?? '', limit],
      );
      return rows.map((r) => r.subscriber_id);
    },
    async countTopicMembers(tenantId, key) {
      const { rows } = await run<{ n: number }>(
        db,
        'SELECT count(*)::INT AS n FROM topic_members WHERE tenant_id = $1 AND topic_key = $2',
        [tenantId, key],
      );
      return rows[0]!.n;
    },
  };
}
