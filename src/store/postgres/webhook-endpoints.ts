import type pg from 'pg';
import type { WebhookEndpointStore } from '../port.ts';
import { toWebhookEndpoint, type WebhookEndpointRow } from '../rows.ts';
import { WebhookEndpointLimitReached } from '../webhook-endpoint-limit.ts';
import { run, transaction } from './client.ts';

/**
 * Creates or updates the endpoint. A re-PUT keeps the secrets (shown once) and enables the
 * endpoint again; xmax = 0 only on a row this statement inserted.
 */
async function upsert(
  db: pg.Pool | pg.PoolClient,
  endpoint: Parameters<WebhookEndpointStore['putWebhookEndpoint']>[0],
  now: number,
) {
  const { rows } = await run<WebhookEndpointRow & { created: boolean }>(
    db,
    `INSERT INTO webhook_endpoints AS cur (tenant_id, id, url, events, sealed_secrets, enabled,
       disabled_reason, created_at, updated_at)
     VALUES ($1, $2, $3, $4::jsonb, $5, TRUE, NULL, $6, $6)
     ON CONFLICT (tenant_id, id) DO UPDATE SET url = excluded.url, events = excluded.events,
       enabled = TRUE, disabled_reason = NULL, updated_at = excluded.updated_at
     RETURNING *, (xmax = 0) AS created`,
    [
      endpoint.tenantId,
      endpoint.id,
      endpoint.url,
      JSON.stringify(endpoint.events),
      endpoint.sealedSecrets,
      now,
    ],
  );
  const row = rows[0]!;
  return { endpoint: toWebhookEndpoint(row), created: row.created };
}

export function postgresWebhookEndpointStore(pool: pg.Pool): WebhookEndpointStore {
  return {
    async putWebhookEndpoint(endpoint, now, maxEndpoints) {
      if (maxEndpoints === undefined) return upsert(pool, endpoint, now);
      return transaction(pool, async (client) => {
        // PUTs of one tenant take turns to count and insert: two cannot both take the last place.
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
          `tidings:webhook_endpoints:${endpoint.tenantId}`,
        ]);
        const { rows } = await client.query<{ n: number; mine: boolean }>(
          `SELECT count(*)::int AS n, bool_or(id = $2) AS mine FROM webhook_endpoints WHERE tenant_id = $1`,
          [endpoint.tenantId, endpoint.id],
        );
        if (!rows[0]!.mine && rows[0]!.n >= maxEndpoints) throw new WebhookEndpointLimitReached();
        return upsert(client, endpoint, now);
      });
    },
    async getWebhookEndpoint(tenantId, id) {
      const { rows } = await run<WebhookEndpointRow>(
        pool,
        'SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      );
      return rows[0] ? toWebhookEndpoint(rows[0]) : null;
    },
    async listWebhookEndpoints(tenantId) {
      const { rows } = await run<WebhookEndpointRow>(
        pool,
        'SELECT * FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id',
        [tenantId],
      );
      return rows.map(toWebhookEndpoint);
    },
    async deleteWebhookEndpoint(tenantId, id) {
      const { rowCount } = await run(pool, 'DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        id,
      ]);
      return (rowCount ?? 0) > 0;
    },
    async replaceWebhookSecrets(tenantId, id, from, to, now) {
      const { rowCount } = await run(
        pool,
        `UPDATE webhook_endpoints SET sealed_secrets = $1, updated_at = $2
         WHERE tenant_id = $3 AND id = $4 AND sealed_secrets = $5`,
        [to, now, tenantId, id, from],
      );
      return (rowCount ?? 0) > 0;
    },
    async disableWebhookEndpoint(tenantId, id, url, reason, now) {
      const { rowCount } = await run(
        pool,
        `UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1, updated_at = $2
         WHERE tenant_id = $3 AND id = $4 AND url = $5 AND enabled`,
        [reason, now, tenantId, id, url],
      );
      return (rowCount ?? 0) > 0;
    },
  };
}
