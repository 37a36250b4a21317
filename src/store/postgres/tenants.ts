import type pg from 'pg';
import { newId } from '../../shared/ids.ts';
import type { ApiKeyRecord, TenantRecord, TenantStore } from '../port.ts';
import { channelName } from './channel.ts';
import { run, transaction } from './client.ts';

/**
 * A statement deleting keys `WHERE …` that tells every process listening on the `keys` channel
 * (src/api/key-revocations.ts) by its own commit, so no process caches a revoked key's lookup.
 */
const revokeWhere = (where: string) =>
  `WITH gone AS (DELETE FROM api_keys WHERE ${where} RETURNING id)
   SELECT pg_notify('${channelName('keys')}', id) FROM gone`;

const KEY_COLUMNS =
  'SELECT id, tenant_id AS "tenantId", prefix, label, created_at AS "createdAt" FROM api_keys';

export function postgresTenantStore(pool: pg.Pool): TenantStore {
  return {
    async settingOnce(key, value) {
      // Two statements, not one: a concurrent first writer's INSERT makes ours wait and then do
      // nothing, and only a statement started after that sees the winner's committed value.
      for (;;) {
        const inserted = await run(
          pool,
          'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
          [key, value],
        );
        if ((inserted.rowCount ?? 0) > 0) return value;
        const { rows } = await run<{ value: string }>(pool, 'SELECT value FROM settings WHERE key = $1', [
          key,
        ]);
        if (rows[0]) return rows[0].value;
      }
    },
    async getSetting(key) {
      const { rows } = await run<{ value: string }>(pool, 'SELECT value FROM settings WHERE key = $1', [key]);
      return rows[0]?.value ?? null;
    },
    async replaceSetting(key, expected, value) {
      const { rowCount } =
        value === null
          ? await run(pool, 'DELETE FROM settings WHERE key = $1 AND value = $2', [key, expected])
          : await run(pool, 'UPDATE settings SET value = $1 WHERE key = $2 AND value = $3', [
              value,
              key,
              expected,
            ]);
      return (rowCount ?? 0) > 0;
    },
    async ensureTenant(id, name) {
      await run(
        pool,
        'INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
        [id, name, Date.now()],
      );
    },
    async tenantExists(id) {
      const { rowCount } = await run(pool, 'SELECT 1 FROM tenants WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },
    async listTenants(after, limit) {
      const { rows } = await run<TenantRecord>(
        pool,
        'SELECT id, name, created_at AS "createdAt" FROM tenants WHERE id > $1 ORDER BY id LIMIT $2',
        [after ?? '', limit],
      );
      return rows;
    },
    async addApiKey(key, replaceLabel = false) {
      const id = key.id ?? newId('key');
      await transaction(pool, async (client) => {
        if (replaceLabel)
          await client.query(revokeWhere('tenant_id = $1 AND label = $2'), [key.tenantId, key.label]);
        await client.query(
          `INSERT INTO api_keys (key_hash, id, tenant_id, label, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (key_hash) DO NOTHING`,
          [key.hash, id, key.tenantId, key.label, key.prefix, Date.now()],
        );
      });
      return id;
    },
    async addFirstApiKey(key) {
      return transaction(pool, async (client) => {
        // Processes seeding the same tenant at once take turns, so exactly one key is generated.
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
          `tidings:api_keys:${key.tenantId}:${key.label}`,
        ]);
        const { rowCount } = await client.query(
          'SELECT 1 FROM api_keys WHERE tenant_id = $1 AND label = $2',
          [key.tenantId, key.label],
        );
        if ((rowCount ?? 0) > 0) return false;
        await client.query(
          'INSERT INTO api_keys (key_hash, id, tenant_id, label, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [key.hash, key.id ?? newId('key'), key.tenantId, key.label, key.prefix, Date.now()],
        );
        return true;
      });
    },
    async tenantForKeyHash(hash) {
      const { rows } = await run<{ tenant_id: string }>(
        pool,
        'SELECT tenant_id FROM api_keys WHERE key_hash = $1',
        [hash],
      );
      return rows[0]?.tenant_id ?? null;
    },
    async countApiKeys(tenantId, label) {
      const { rows } = await run<{ n: number }>(
        pool,
        'SELECT count(*)::INT AS n FROM api_keys WHERE tenant_id = $1 AND label = $2',
        [tenantId, label],
      );
      return rows[0]!.n;
    },
    async listApiKeys(tenantId) {
      const { rows } =
        tenantId === null
          ? await run<ApiKeyRecord>(pool, `${KEY_COLUMNS} ORDER BY created_at, id`)
          : await run<ApiKeyRecord>(pool, `${KEY_COLUMNS} WHERE tenant_id = $1 ORDER BY created_at, id`, [
              tenantId,
            ]);
      return rows;
    },
    async revokeApiKey(keyId, tenantId) {
      const { rowCount } =
        tenantId === null
          ? await run(pool, revokeWhere('id = $1'), [keyId])
          : await run(pool, revokeWhere('id = $1 AND tenant_id = $2'), [keyId, tenantId]);
      return (rowCount ?? 0) > 0;
    },
  };
}
