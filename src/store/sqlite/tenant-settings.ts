import type Database from 'better-sqlite3';
import type { TenantSettingsPatch, TenantSettingsStore } from '../port.ts';
import { mergeTenantSettings, parseTenantSettings } from '../preference-merge.ts';

export function sqliteTenantSettingsStore(db: Database.Database): TenantSettingsStore {
  const read = db.prepare('SELECT settings FROM tenant_settings WHERE tenant_id = ?').pluck();
  const write = db.prepare(
    `INSERT INTO tenant_settings (tenant_id, settings, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
  );
  // Read, merge and write in one immediate transaction: concurrent patches of different settings both stick.
  const patch = db.transaction((tenantId: string, changes: TenantSettingsPatch, now: number) => {
    const merged = mergeTenantSettings(
      parseTenantSettings(read.get(tenantId) as string | undefined),
      changes,
    );
    write.run(tenantId, JSON.stringify(merged), now);
    return merged;
  });

  const version = db.prepare('SELECT version FROM consent_versions WHERE tenant_id = ?').pluck();
  const choices = db.prepare('SELECT choices FROM consent_versions WHERE tenant_id = ?').pluck();

  return {
    async consentVersions(tenantIds) {
      return new Map(tenantIds.map((id) => [id, (version.get(id) as number | undefined) ?? 0]));
    },
    async choicesVersions(tenantIds) {
      return new Map(tenantIds.map((id) => [id, (choices.get(id) as number | undefined) ?? 0]));
    },
    async getTenantSettings(tenantId) {
      return parseTenantSettings(read.get(tenantId) as string | undefined);
    },
    async patchTenantSettings(tenantId, changes, now) {
      return patch.immediate(tenantId, changes, now);
    },
  };
}
