import type Database from 'better-sqlite3';
import type { PreferenceChoices } from '../../shared/model.ts';
import { choicesChanged, preferenceChange } from '../personal-data.ts';
import type { ConsentNote, PreferencePatch, PreferenceStore } from '../port.ts';
import {
  deepFreeze,
  mergePreferences,
  parsePreferences,
  type QuietHoursRow,
  quietHoursPageOf,
  sharedPreferenceParser,
} from '../preference-merge.ts';
import type { ConsentStatements } from './personal-data.ts';
import type { SubscriberStatements } from './subscribers.ts';

/** A row as `.raw()` answers it: [subscriber_id, choices]. */
type ChoicesRow = [string, string];

export function sqlitePreferenceStore(
  db: Database.Database,
  subscribers: SubscriberStatements,
  consent: ConsentStatements,
): PreferenceStore {
  const one = db.prepare('SELECT choices FROM preferences WHERE tenant_id = ? AND subscriber_id = ?').pluck();
  // One statement for a whole batch of recipients: a primary-key probe per id.
  const many = db
    .prepare(
      `SELECT subscriber_id, choices FROM preferences
       WHERE tenant_id = ? AND subscriber_id IN (SELECT value FROM json_each(?))`,
    )
    .raw();
  // `limit` rows of choices by primary key, then each one's zone by the subscribers' primary key.
  const quietPage = db.prepare(
    `SELECT p.subscriber_id, p.quiet, s.timezone
       FROM (SELECT subscriber_id, json_extract(choices, '$.quietHours') AS quiet FROM preferences
              WHERE tenant_id = @tenantId AND subscriber_id > @after
              ORDER BY subscriber_id LIMIT @limit) p
       LEFT JOIN subscribers s ON s.tenant_id = @tenantId AND s.id = p.subscriber_id
      ORDER BY p.subscriber_id`,
  );
  const write = db.prepare(
    `INSERT INTO preferences (tenant_id, subscriber_id, choices, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (tenant_id, subscriber_id) DO UPDATE SET choices = excluded.choices, updated_at = excluded.updated_at`,
  );

  const read = (tenantId: string, subscriberId: string): PreferenceChoices | null => {
    const json = one.get(tenantId, subscriberId) as string | undefined;
    return json === undefined ? null : parsePreferences(json);
  };

  // Read, merge and write under the write lock (an immediate transaction): no other writer can
  // slip a patch in between, so concurrent patches of different keys all stick.
  const patch = db.transaction(
    (
      tenantId: string,
      subscriberId: string,
      changes: PreferencePatch,
      now: number,
      note?: ConsentNote,
      maxKeys?: number,
    ) => {
      subscribers.createEmpty(tenantId, subscriberId, now);
      const before = read(tenantId, subscriberId);
      const merged = mergePreferences(before, changes, maxKeys);
      write.run(tenantId, subscriberId, JSON.stringify(merged), now);
      if (note && choicesChanged(before, merged)) {
        consent.append({ tenantId, subscriberId, at: now, change: preferenceChange(changes), ...note });
      }
      return merged;
    },
  );

  return {
    async getPreferences(tenantId, subscriberId) {
      return read(tenantId, subscriberId);
    },
    async getPreferencesFor(tenantId, subscriberIds) {
      const found = new Map<string, PreferenceChoices>();
      if (subscriberIds.length === 0) return found;
      if (subscriberIds.length === 1) {
        // A one-recipient event (the common case) skips encoding the id list as JSON. Frozen like
        // every batch's answers, so a consumer that changed one fails here as in a batch.
        const choices = read(tenantId, subscriberIds[0]!);
        if (choices) found.set(subscriberIds[0]!, deepFreeze(choices));
        return found;
      }
      const parse = sharedPreferenceParser();
      for (const [subscriberId, choices] of many.all(tenantId, JSON.stringify(subscriberIds)) as ChoicesRow[])
        found.set(subscriberId, parse(choices));
      return found;
    },
    async quietHoursPage(tenantId, after, limit) {
      const rows = quietPage.all({ tenantId, after: after ?? '', limit }) as QuietHoursRow[];
      return quietHoursPageOf(rows, limit);
    },
    async patchPreferences(tenantId, subscriberId, changes, now, note, maxKeys) {
      return patch.immediate(tenantId, subscriberId, changes, now, note, maxKeys);
    },
  };
}
