import type pg from 'pg';
import type { PreferenceChoices } from '../../shared/model.ts';
import { choicesChanged, preferenceChange } from '../personal-data.ts';
import type { PreferenceStore } from '../port.ts';
import {
  mergePreferences,
  parsePreferences,
  type QuietHoursRow,
  quietHoursPageOf,
  sharedPreferenceParser,
} from '../preference-merge.ts';
import { run, transaction } from './client.ts';
import { appendConsent } from './personal-data.ts';

type ChoicesRow = { subscriber_id: string; choices: string };

const CREATE_SUBSCRIBER = `INSERT INTO subscribers (tenant_id, id, created_at, updated_at) VALUES ($1, $2, $3, $3)
  ON CONFLICT DO NOTHING`;

// Creates the row if absent and locks it either way; RETURNING reads the latest committed choices
// (in READ COMMITTED an ON CONFLICT update sees the newest row version), so a concurrent patch
// waits here and then merges into what the first one wrote. `fresh` tells a row just made (no
// choices before) from one that held choices.
const LOCK_CHOICES = `INSERT INTO preferences AS cur (tenant_id, subscriber_id, choices, updated_at)
  VALUES ($1, $2, '{}', $3)
  ON CONFLICT (tenant_id, subscriber_id) DO UPDATE SET updated_at = cur.updated_at
  RETURNING choices, (xmax = 0) AS fresh`;

export function postgresPreferenceStore(pool: pg.Pool): PreferenceStore {
  return {
    async getPreferences(tenantId, subscriberId) {
      const { rows } = await run<{ choices: string }>(
        pool,
        'SELECT choices FROM preferences WHERE tenant_id = $1 AND subscriber_id = $2',
        [tenantId, subscriberId],
      );
      return rows[0] ? parsePreferences(rows[0].choices) : null;
    },
    async getPreferencesFor(tenantId, subscriberIds) {
      const found = new Map<string, PreferenceChoices>();
      if (subscriberIds.length === 0) return found;
      const { rows } = await run<ChoicesRow>(
        pool,
        'SELECT subscriber_id, choices FROM preferences WHERE tenant_id = $1 AND subscriber_id = ANY($2::TEXT[])',
        [tenantId, subscriberIds],
      );
      const parse = sharedPreferenceParser();
      for (const row of rows) found.set(row.subscriber_id, parse(row.choices));
      return found;
    },
    async quietHoursPage(tenantId, after, limit) {
      // `limit` rows of choices by primary key, then each one's zone by the subscribers' primary key.
      const { rows } = await run<QuietHoursRow>(
        pool,
        `SELECT p.subscriber_id, p.quiet, s.timezone
           FROM (SELECT subscriber_id, (choices -> 'quietHours')::TEXT AS quiet FROM preferences
                  WHERE tenant_id = $1 AND subscriber_id > $2
                  ORDER BY subscriber_id LIMIT $3) p
           LEFT JOIN subscribers s ON s.tenant_id = $1 AND s.id = p.subscriber_id
          ORDER BY p.subscriber_id`,
        [tenantId, after ?? '', limit],
      );
      return quietHoursPageOf(rows, limit);
    },
    async patchPreferences(tenantId, subscriberId, patch, now, note, maxKeys) {
      return transaction(pool, async (client) => {
        await client.query(CREATE_SUBSCRIBER, [tenantId, subscriberId, now]);
        const { rows } = await client.query<{ choices: string; fresh: boolean }>(LOCK_CHOICES, [
          tenantId,
          subscriberId,
          now,
        ]);
        const before = rows[0]!.fresh ? null : parsePreferences(rows[0]!.choices);
        const merged = mergePreferences(before, patch, maxKeys);
        await client.query(
          'UPDATE preferences SET choices = $3, updated_at = $4 WHERE tenant_id = $1 AND subscriber_id = $2',
          [tenantId, subscriberId, JSON.stringify(merged), now],
        );
        if (note && choicesChanged(before, merged)) {
          await appendConsent(client, {
            tenantId,
            subscriberId,
            at: now,
            change: preferenceChange(patch),
            ...note,
          });
        }
        return merged;
      });
    },
  };
}
