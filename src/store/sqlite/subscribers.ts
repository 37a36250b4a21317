import type Database from 'better-sqlite3';
import type { PersonalData } from '../../security/personal-data.ts';
import type { SubscriberPatch, SubscriberRecord } from '../../shared/model.ts';
import { type SealedSubscriberPatch, sealSubscriberPatch } from '../personal-fields.ts';
import type { SubscriberStore } from '../port.ts';
import { type SubscriberRow, toSubscriber } from '../rows.ts';

/** Statements for writing subscribers, shared with event acceptance (inline subscribers). */
export function subscriberStatements(db: Database.Database, personal: PersonalData) {
  const get = db.prepare('SELECT * FROM subscribers WHERE tenant_id = ? AND id = ?');
  const write = db.prepare(
    `INSERT INTO subscribers (tenant_id, id, email, phone, email_hash, phone_hash, locale, timezone, data,
       created_at, updated_at)
     VALUES (@tenant_id, @id, @email, @phone, @email_hash, @phone_hash, @locale, @timezone, @data, @created_at,
       @updated_at)
     ON CONFLICT (tenant_id, id) DO UPDATE SET email = excluded.email, phone = excluded.phone,
       email_hash = excluded.email_hash, phone_hash = excluded.phone_hash,
       locale = excluded.locale, timezone = excluded.timezone, data = excluded.data, updated_at = excluded.updated_at`,
  );
  const createEmpty = db.prepare(
    `INSERT INTO subscribers (tenant_id, id, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  /** The row `patch` (email and phone already sealed) makes of `existing`: absent fields are kept, null clears one. */
  function merged(
    tenantId: string,
    id: string,
    patch: SealedSubscriberPatch,
    now: number,
    existing: SubscriberRow | undefined,
  ): SubscriberRow {
    const pick = <K extends keyof SubscriberRow>(key: K, value: SubscriberRow[K] | undefined) =>
      value === undefined ? (existing?.[key] ?? null) : value;
    return {
      tenant_id: tenantId,
      id,
      email: pick('email', patch.email),
      phone: pick('phone', patch.phone),
      email_hash: pick('email_hash', patch.emailHash),
      phone_hash: pick('phone_hash', patch.phoneHash),
      locale: pick('locale', patch.locale),
      timezone: pick('timezone', patch.timezone),
      data: patch.data === undefined ? (existing?.data ?? '{}') : JSON.stringify(patch.data ?? {}),
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
  }
  /** Fields present in `patch` (email and phone already sealed) are set (null clears one); absent fields are kept. */
  function upsertSealed(
    tenantId: string,
    id: string,
    patch: SealedSubscriberPatch,
    now: number,
    read?: SubscriberRow,
  ): SubscriberRow {
    const row = merged(
      tenantId,
      id,
      patch,
      now,
      read ?? (get.get(tenantId, id) as SubscriberRow | undefined),
    );
    write.run(row);
    return row;
  }
  /**
   * As upsertSealed, for an inline recipient: a row the patch would leave as it is is not written
   * (nor its updated_at moved). Sending to the same inline recipients again writes only events.
   */
  function upsertInline(
    tenantId: string,
    id: string,
    patch: SealedSubscriberPatch,
    now: number,
    read?: SubscriberRow,
  ): void {
    const existing = read ?? (get.get(tenantId, id) as SubscriberRow | undefined);
    const row = merged(tenantId, id, patch, now, existing);
    if (existing === undefined || !changesNothing(existing, row)) write.run(row);
  }
  return {
    /** Fields present in `patch` are set (null clears one); absent fields are kept. */
    upsert(tenantId: string, id: string, patch: SubscriberPatch, now: number): SubscriberRecord {
      const stored = get.get(tenantId, id) as SubscriberRow | undefined;
      // Sealed as given, not kept by its keyed hash as an inline recipient's is: a PUT that changes
      // an address only in letter case stores the new spelling (as PostgreSQL does).
      const sealed = sealSubscriberPatch(personal, patch);
      return toSubscriber(upsertSealed(tenantId, id, sealed, now, stored), personal);
    },
    upsertInline,
    /** The row as stored (sealed fields), for a caller that seals a patch against it. */
    stored(tenantId: string, id: string): SubscriberRow | undefined {
      return get.get(tenantId, id) as SubscriberRow | undefined;
    },
    createEmpty(tenantId: string, id: string, now: number): void {
      createEmpty.run(tenantId, id, now, now);
    },
    get(tenantId: string, id: string): SubscriberRecord | null {
      const row = get.get(tenantId, id) as SubscriberRow | undefined;
      return row ? toSubscriber(row, personal) : null;
    },
  };
}

/** Whether writing `after` over `before` would change any stored field (the times aside). */
function changesNothing(before: SubscriberRow, after: SubscriberRow): boolean {
  return (
    before.email === after.email &&
    before.phone === after.phone &&
    before.email_hash === after.email_hash &&
    before.phone_hash === after.phone_hash &&
    before.locale === after.locale &&
    before.timezone === after.timezone &&
    before.data === after.data
  );
}

export type SubscriberStatements = ReturnType<typeof subscriberStatements>;

export function sqliteSubscriberStore(
  db: Database.Database,
  subscribers: SubscriberStatements,
  personal: PersonalData,
): SubscriberStore {
  const upsertTopic = db.prepare(
    `INSERT INTO topics (tenant_id, key, name, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (tenant_id, key) DO UPDATE SET name = COALESCE(excluded.name, topics.name)
     RETURNING key, name, created_at`,
  );
  const topic = db.prepare('SELECT key, name, created_at FROM topics WHERE tenant_id = ? AND key = ?');
  const addMember = db.prepare(
    `INSERT INTO topic_members (tenant_id, topic_key, subscriber_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const removeMember = db.prepare(
    'DELETE FROM topic_members WHERE tenant_id = ? AND topic_key = ? AND subscriber_id = ?',
  );
  const firstPage = db
    .prepare(
      'SELECT subscriber_id FROM topic_members WHERE tenant_id = ? AND topic_key = ? ORDER BY subscriber_id LIMIT ?',
    )
    .pluck();
  const nextPage = db
    .prepare(
      `SELECT subscriber_id FROM topic_members WHERE tenant_id = ? AND topic_key = ? AND subscriber_id > ?
       ORDER BY subscriber_id LIMIT ?`,
    )
    .pluck();
  // One statement for a whole page of recipients instead of one lookup each.
  const many = db.prepare(
    'SELECT * FROM subscribers WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))',
  );
  const countMembers = db
    .prepare('SELECT COUNT(*) FROM topic_members WHERE tenant_id = ? AND topic_key = ?')
    .pluck();

  const loadOrCreate = db.transaction((tenantId: string, ids: string[], now: number) =>
    ids.map((id) => {
      const found = subscribers.get(tenantId, id);
      if (found) return found;
      subscribers.createEmpty(tenantId, id, now);
      return subscribers.get(tenantId, id)!;
    }),
  );

  return {
    async upsertSubscriber(tenantId, id, patch, now) {
      return db.transaction(() => subscribers.upsert(tenantId, id, patch, now)).immediate();
    },
    async getSubscriber(tenantId, id) {
      return subscribers.get(tenantId, id);
    },
    async getSubscribers(tenantId, ids) {
      if (ids.length === 0) return [];
      if (ids.length === 1) {
        const one = subscribers.get(tenantId, ids[0]!);
        return one ? [one] : [];
      }
      return (many.all(tenantId, JSON.stringify(ids)) as SubscriberRow[]).map((row) =>
        toSubscriber(row, personal),
      );
    },
    async loadOrCreateSubscribers(tenantId, ids, now) {
      return loadOrCreate.immediate(tenantId, ids, now);
    },
    async upsertTopic(tenantId, key, name, now) {
      const row = upsertTopic.get(tenantId, key, name, now) as {
        key: string;
        name: string | null;
        created_at: number;
      };
      return { key: row.key, name: row.name, createdAt: row.created_at };
    },
    async getTopic(tenantId, key) {
      const row = topic.get(tenantId, key) as
        | { key: string; name: string | null; created_at: number }
        | undefined;
      return row ? { key: row.key, name: row.name, createdAt: row.created_at } : null;
    },
    async addTopicMembers(tenantId, key, subscriberIds, now) {
      return db
        .transaction(() => {
          if (!topic.get(tenantId, key)) return null;
          let added = 0;
          for (const id of subscriberIds) {
            subscribers.createEmpty(tenantId, id, now);
            added += addMember.run(tenantId, key, id, now).changes;
          }
          return added;
        })
        .immediate();
    },
    async removeTopicMember(tenantId, key, subscriberId) {
      return removeMember.run(tenantId, key, subscriberId).changes > 0;
    },
    async topicMembersPage(tenantId, key, afterId, limit) {
      return (
        afterId === null ? firstPage.all(tenantId, key, limit) : nextPage.all(tenantId, key, afterId, limit)
      ) as string[];
    },
    async countTopicMembers(tenantId, key) {
      return countMembers.get(tenantId, key) as number;
    },
  };
}
