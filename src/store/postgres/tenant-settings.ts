import type pg from 'pg';
import type { TenantSettingsStore } from '../port.ts';
import { mergeTenantSettings, parseTenantSettings } from '../preference-merge.ts';
import { run, transaction } from './client.ts';

// Creates the row if absent and locks it either way, answering the latest committed settings:
// a concurrent patch waits here, then merges into what the first one wrote.
const LOCK_SETTINGS = `INSERT INTO tenant_settings AS cur (tenant_id, settings, updated_at) VALUES ($1, '{}', $2)
  ON CONFLICT (tenant_id) DO UPDATE SET updated_at = cur.updated_at
  RETURNING settings`;

export function postgresTenantSettingsStore(pool: pg.Pool): TenantSettingsStore {
  return {
    async consentVersions(tenantIds) {
      const { rows } = await run<{ tenant_id: string; version: string }>(
        pool,
        'SELECT tenant_id, version FROM consent_versions WHERE tenant_id = ANY($1::text[])',
        [tenantIds],
      );
      const found = new Map(rows.map((row) => [row.tenant_id, Number(row.version)]));
      return new Map(tenantIds.map((id) => [id, found.get(id) ?? 0]));
    },
    async getTenantSettings(tenantId) {
      const { rows } = await run<{ settings: string }>(
        pool,
        'SELECT settings FROM tenant_settings WHERE tenant_id = $1',
        [tenantId],
      );
      return parseTenantSettings(rows[0]?.settings);
    },
    async patchTenantSettings(tenantId, patch, now) {
      return transaction(pool, async (client) => {
        const { rows } = await client.query<{ settings: string }>(LOCK_SETTINGS, [tenantId, now]);
        const merged = mergeTenantSettings(parseTenantSettings(rows[0]!.settings), patch);
        await client.query('UPDATE tenant_settings SET settings = $2, updated_at = $3 WHERE tenant_id = $1', [
          tenantId,
          JSON.stringify(merged),
          now,
        ]);
        return merged;
      });
    },
  };
}
