import type Database from 'better-sqlite3';
import { newId } from '../../shared/ids.ts';
import type { ApiKeyRecord, TenantRecord, TenantStore } from '../port.ts';

interface KeyRow {
  id: string;
  tenant_id: string;
  prefix: string;
  label: string;
  created_at: number;
}

const keyRecord = (row: KeyRow): ApiKeyRecord => ({
  id: row.id,
  tenantId: row.tenant_id,
  prefix: row.prefix,
  label: row.label,
  createdAt: row.created_at,
});

export function sqliteTenantStore(db: Database.Database): TenantStore {
  const insertSetting = db.prepare(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING',
  );
  const getSetting = db.prepare('SELECT value FROM settings WHERE key = ?').pluck();
  const updateSetting = db.prepare('UPDATE settings SET value = ? WHERE key = ? AND value = ?');
  const deleteSetting = db.prepare('DELETE FROM settings WHERE key = ? AND value = ?');
  const insertTenant = db.prepare(
    'INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
  );
  const tenant = db.prepare('SELECT 1 FROM tenants WHERE id = ?').pluck();
  const tenantsAfter = db.prepare(
    'SELECT id, name, created_at AS createdAt FROM tenants WHERE id > ? ORDER BY id LIMIT ?',
  );
  const deleteLabel = db.prepare('DELETE FROM api_keys WHERE tenant_id = ? AND label = ?');
  const insertKey = db.prepare(
    'INSERT INTO api_keys (key_hash, id, tenant_id, label, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING',
  );
  const byHash = db.prepare('SELECT tenant_id FROM api_keys WHERE key_hash = ?').pluck();
  const countLabel = db.prepare('SELECT COUNT(*) FROM api_keys WHERE tenant_id = ? AND label = ?').pluck();
  const keyColumns = 'SELECT id, tenant_id, prefix, label, created_at FROM api_keys';
  const keysOf = db.prepare(`${keyColumns} WHERE tenant_id = ? ORDER BY created_at, id`);
  const allKeys = db.prepare(`${keyColumns} ORDER BY created_at, id`);
  const deleteKey = db.prepare('DELETE FROM api_keys WHERE id = ?');
  const deleteTenantKey = db.prepare('DELETE FROM api_keys WHERE id = ? AND tenant_id = ?');

  return {
    async settingOnce(key, value) {
      insertSetting.run(key, value);
      return getSetting.get(key) as string;
    },
    async getSetting(key) {
      return (getSetting.get(key) as string | undefined) ?? null;
    },
    async replaceSetting(key, expected, value) {
      const result =
        value === null ? deleteSetting.run(key, expected) : updateSetting.run(value, key, expected);
      return result.changes > 0;
    },
    async ensureTenant(id, name) {
      insertTenant.run(id, name, Date.now());
    },
    async tenantExists(id) {
      return tenant.get(id) !== undefined;
    },
    async listTenants(after, limit) {
      return tenantsAfter.all(after ?? '', limit) as TenantRecord[];
    },
    async addApiKey(key, replaceLabel = false) {
      const id = key.id ?? newId('key');
      db.transaction(() => {
        if (replaceLabel) deleteLabel.run(key.tenantId, key.label);
        insertKey.run(key.hash, id, key.tenantId, key.label, key.prefix, Date.now());
      }).immediate();
      return id;
    },
    async addFirstApiKey(key) {
      // An IMMEDIATE transaction holds the database's one write lock: seeders take turns.
      return db
        .transaction(() => {
          if ((countLabel.get(key.tenantId, key.label) as number) > 0) return false;
          insertKey.run(key.hash, key.id ?? newId('key'), key.tenantId, key.label, key.prefix, Date.now());
          return true;
        })
        .immediate();
    },
    async tenantForKeyHash(hash) {
      return (byHash.get(hash) as string | undefined) ?? null;
    },
    async countApiKeys(tenantId, label) {
      return countLabel.get(tenantId, label) as number;
    },
    async listApiKeys(tenantId) {
      const rows = (tenantId === null ? allKeys.all() : keysOf.all(tenantId)) as KeyRow[];
      return rows.map(keyRecord);
    },
    async revokeApiKey(keyId, tenantId) {
      const result = tenantId === null ? deleteKey.run(keyId) : deleteTenantKey.run(keyId, tenantId);
      return result.changes > 0;
    },
  };
}
