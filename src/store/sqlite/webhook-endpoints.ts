import type Database from 'better-sqlite3';
import type { WebhookEndpointStore } from '../port.ts';
import { toWebhookEndpoint, type WebhookEndpointRow } from '../rows.ts';
import { WebhookEndpointLimitReached } from '../webhook-endpoint-limit.ts';

export function sqliteWebhookEndpointStore(db: Database.Database): WebhookEndpointStore {
  const get = db.prepare('SELECT * FROM webhook_endpoints WHERE tenant_id = ? AND id = ?');
  const list = db.prepare('SELECT * FROM webhook_endpoints WHERE tenant_id = ? ORDER BY id');
  // A re-PUT keeps the secrets (shown once) and enables the endpoint again.
  const write = db.prepare(
    `INSERT INTO webhook_endpoints (tenant_id, id, url, events, sealed_secrets, enabled, disabled_reason,
       created_at, updated_at)
     VALUES (@tenantId, @id, @url, @events, @sealedSecrets, 1, NULL, @now, @now)
     ON CONFLICT (tenant_id, id) DO UPDATE SET url = excluded.url, events = excluded.events, enabled = 1,
       disabled_reason = NULL, updated_at = excluded.updated_at
     RETURNING *`,
  );
  const remove = db.prepare('DELETE FROM webhook_endpoints WHERE tenant_id = ? AND id = ?');
  const replaceSecrets = db.prepare(
    `UPDATE webhook_endpoints SET sealed_secrets = ?, updated_at = ?
     WHERE tenant_id = ? AND id = ? AND sealed_secrets = ?`,
  );
  const disable = db.prepare(
    `UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, updated_at = ?
     WHERE tenant_id = ? AND id = ? AND url = ? AND enabled = 1`,
  );

  const count = db.prepare('SELECT count(*) AS n FROM webhook_endpoints WHERE tenant_id = ?');

  const put = db.transaction(
    (
      endpoint: Parameters<WebhookEndpointStore['putWebhookEndpoint']>[0],
      now: number,
      maxEndpoints: number | undefined,
    ) => {
      const created = get.get(endpoint.tenantId, endpoint.id) === undefined;
      if (created && maxEndpoints !== undefined) {
        const { n } = count.get(endpoint.tenantId) as { n: number };
        if (n >= maxEndpoints) throw new WebhookEndpointLimitReached();
      }
      const row = write.get({
        tenantId: endpoint.tenantId,
        id: endpoint.id,
        url: endpoint.url,
        events: JSON.stringify(endpoint.events),
        sealedSecrets: endpoint.sealedSecrets,
        now,
      }) as WebhookEndpointRow;
      return { endpoint: toWebhookEndpoint(row), created };
    },
  );

  return {
    async putWebhookEndpoint(endpoint, now, maxEndpoints) {
      return put.immediate(endpoint, now, maxEndpoints);
    },
    async getWebhookEndpoint(tenantId, id) {
      const row = get.get(tenantId, id) as WebhookEndpointRow | undefined;
      return row ? toWebhookEndpoint(row) : null;
    },
    async listWebhookEndpoints(tenantId) {
      return (list.all(tenantId) as WebhookEndpointRow[]).map(toWebhookEndpoint);
    },
    async deleteWebhookEndpoint(tenantId, id) {
      return remove.run(tenantId, id).changes > 0;
    },
    async replaceWebhookSecrets(tenantId, id, from, to, now) {
      return replaceSecrets.run(to, now, tenantId, id, from).changes > 0;
    },
    async disableWebhookEndpoint(tenantId, id, url, reason, now) {
      return disable.run(reason, now, tenantId, id, url).changes > 0;
    },
  };
}
