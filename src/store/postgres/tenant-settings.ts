import type pg from 'pg';
import type { TenantSettingsStore } from '../port.ts';
import { mergeTenantSettings, parseTenantSettings } from '../preference-merge.ts';
import { run, transaction } from './client.ts';

// Creates the row if absent and locks it either way, answering the latest committed settings:
// a concurrent patch waits here, then merges into what the first one wrote.
const LOCK_SETTINGS = `INSERT INTO tenant_settings AS cur (tenant_id, settings, updated_at) VALUES ($1, '{}', $2)
  ON CONFLICT (tenant_id) DO UPDATE SET updated_at = cur.updated_at
  RETURNING settings`;

/** One of the tenants' consent counts (migration 047), 0 for a tenant without a row. */
async function versionsOf(
  pool: pg.Pool,
  column: 'version' | 'choices',
  tenantIds: readonly string[],
): Promise<Map<string, number>> {
  const { rows } = await run<{ tenant_id: string; n: string }>(
    pool,
    `SELECT tenant_id, ${column} AS n FROM consent_versions WHERE tenant_id = ANY($1::text[])`,
    [tenantIds],
  );
  const found = new Map(rows.map((row) => [row.tenant_id, Number(row.n)]));
  return new Map(tenantIds.map((id) => [id, found.get(id) ?? 0]));
}

export function postgresTenantSettingsStore(pool: pg.Pool): TenantSettingsStore {
  return {
    async consentVersions(tenantIds) {
      return versionsOf(pool, 'version', tenantIds);
    },
    async choicesVersions(tenantIds) {
      return versionsOf(pool, 'choices', tenantIds);
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
