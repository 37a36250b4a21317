import type { IntegrationStore, WorkflowStore } from '../port.ts';
import {
  type IntegrationRow,
  type LayoutRow,
  toIntegration,
  toLayout,
  toWorkflow,
  toWorkflowVersion,
  type WorkflowRow,
  type WorkflowVersionRow,
} from '../rows.ts';
import { type Queryable, run } from './client.ts';
import { sizedPage } from './sized-page.ts';

export function postgresWorkflowStore(db: Queryable): WorkflowStore {
  return {
    async putWorkflow(tenantId, key, definition, now) {
      const { rows } = await run<WorkflowRow>(
        db,
        // One statement: the version is kept in the same commit that makes it current.
        `WITH saved AS (
           INSERT INTO workflows AS cur (tenant_id, key, definition, version, created_at, updated_at)
           -- After a delete the numbers go on from the last version: they never repeat.
           VALUES ($1, $2, $3::jsonb,
             (SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_versions WHERE tenant_id = $1 AND key = $2),
             $4, $4)
           ON CONFLICT (tenant_id, key) DO UPDATE SET definition = excluded.definition,
             version = cur.version + 1, updated_at = excluded.updated_at,
             paused_reason = NULL, render_timeouts = 0
           RETURNING *),
         kept AS (
           INSERT INTO workflow_versions (tenant_id, key, version, definition, created_at)
           SELECT tenant_id, key, version, definition, updated_at FROM saved)
         SELECT * FROM saved`,
        [tenantId, key, JSON.stringify(definition), now],
      );
      return toWorkflow(rows[0]!);
    },
    async putLayout(tenantId, key, layout, now) {
      // Two PUTs racing for one number: the loser takes the next one.
      for (let attempt = 0; ; attempt++) {
        try {
          const { rows } = await run<LayoutRow>(
            db,
            `INSERT INTO layout_versions (tenant_id, key, version, kind, source, html, created_at)
             SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5, $6
               FROM layout_versions WHERE tenant_id = $1 AND key = $2
             RETURNING *`,
            [tenantId, key, layout.kind, layout.source, layout.html, now],
          );
          return toLayout(rows[0]!);
        } catch (error) {
          if ((error as { code?: string }).code !== '23505' || attempt >= 5) throw error;
        }
      }
    },
    async layoutAt(tenantId, key, at) {
      // As on SQLite: the oldest version is always a candidate and comes last.
      const { rows } = await run<LayoutRow>(
        db,
        `SELECT * FROM layout_versions WHERE tenant_id = $1 AND key = $2
            AND (created_at <= $3
                 OR version = (SELECT MIN(version) FROM layout_versions WHERE tenant_id = $1 AND key = $2))
          ORDER BY version DESC LIMIT 1`,
        [tenantId, key, at],
      );
      return rows[0] ? toLayout(rows[0]) : null;
    },
    async hasLayout(tenantId, key) {
      const { rows } = await run<{ found: boolean }>(
        db,
        'SELECT EXISTS (SELECT 1 FROM layout_versions WHERE tenant_id = $1 AND key = $2) AS found',
        [tenantId, key],
      );
      return rows[0]?.found === true;
    },
    async getWorkflowVersion(tenantId, key, version) {
      const { rows } = await run<WorkflowVersionRow>(
        db,
        'SELECT * FROM workflow_versions WHERE tenant_id = $1 AND key = $2 AND version = $3',
        [tenantId, key, version],
      );
      return rows[0] ? toWorkflowVersion(rows[0]) : null;
    },
    async listWorkflowVersions(tenantId, key, page) {
      const { rows } = await run<WorkflowVersionRow>(
        db,
        `SELECT * FROM workflow_versions WHERE tenant_id = $1 AND key = $2 AND version < $3::BIGINT
          ORDER BY version DESC LIMIT $4`,
        [tenantId, key, page?.before ?? Number.MAX_SAFE_INTEGER, page?.limit ?? null],
      );
      return rows.map(toWorkflowVersion);
    },
    async pageWorkflowVersions(tenantId, key, page) {
      return sizedPage(
        db,
        {
          table: 'workflow_versions',
          where: 't.tenant_id = $1 AND t.key = $2 AND t.version < $3::BIGINT',
          order: 't.version DESC',
          values: [tenantId, key, page.before ?? Number.MAX_SAFE_INTEGER],
          bytes: 'octet_length(t.definition::TEXT)',
        },
        page,
        toWorkflowVersion,
      );
    },
    async getWorkflow(tenantId, key) {
      const { rows } = await run<WorkflowRow>(
        db,
        'SELECT * FROM workflows WHERE tenant_id = $1 AND key = $2',
        [tenantId, key],
      );
      return rows[0] ? toWorkflow(rows[0]) : null;
    },
    async listWorkflows(tenantId, page) {
      const { rows } = await run<WorkflowRow>(
        db,
        'SELECT * FROM workflows WHERE tenant_id = $1 AND key > $2 ORDER BY key LIMIT $3',
        [tenantId, page?.after ?? '', page?.limit ?? null],
      );
      return rows.map(toWorkflow);
    },
    async pageWorkflows(tenantId, page) {
      return sizedPage(
        db,
        {
          table: 'workflows',
          where: 't.tenant_id = $1 AND t.key > $2',
          order: 't.key',
          values: [tenantId, page.after ?? ''],
          bytes: 'octet_length(t.definition::TEXT)',
        },
        page,
        toWorkflow,
      );
    },
    async countRenderTimeouts(tenantId, key, version, outcome, pause) {
      // Every right-hand side reads the row as it was, so both use the count before this update.
      const { rows } = await run<WorkflowRow>(
        db,
        `UPDATE workflows SET
           render_timeouts = (CASE WHEN $4 THEN 0 ELSE render_timeouts END) + $5,
           paused_reason = CASE
             WHEN paused_reason IS NULL AND (CASE WHEN $4 THEN 0 ELSE render_timeouts END) + $5 >= $6
             THEN $7 ELSE paused_reason END
         WHERE tenant_id = $1 AND key = $2 AND version = $3
         RETURNING *`,
        [tenantId, key, version, outcome.afterSuccess, outcome.timeouts, pause.at, pause.reason],
      );
      return rows[0] ? toWorkflow(rows[0]) : null;
    },
  };
}

export function postgresIntegrationStore(db: Queryable): IntegrationStore {
  return {
    async listSealedCredentials() {
      const { rows } = await run<{ tenant_id: string; id: string; credentials: string }>(
        db,
        'SELECT tenant_id, id, credentials FROM integrations WHERE credentials IS NOT NULL ORDER BY tenant_id, id',
      );
      return rows.map((r) => ({ tenantId: r.tenant_id, integrationId: r.id, sealed: r.credentials }));
    },
    async resealCredentials(changes) {
      if (changes.length === 0) return 0;
      // One statement: all of them or none, whatever the pool's connections.
      const { rowCount } = await run(
        db,
        `UPDATE integrations AS i SET credentials = c.next
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS c(tenant_id, id, prev, next)
         WHERE i.tenant_id = c.tenant_id AND i.id = c.id AND i.credentials = c.prev`,
        [
          changes.map((c) => c.tenantId),
          changes.map((c) => c.integrationId),
          changes.map((c) => c.from),
          changes.map((c) => c.to),
        ],
      );
      return rowCount ?? 0;
    },
    async putIntegration(record, now) {
      const { rows } = await run<IntegrationRow>(
        db,
        `INSERT INTO integrations (tenant_id, id, channel, provider, priority, config, credentials, enabled,
           rate_limit_per_second, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $10, $9, $9)
         ON CONFLICT (tenant_id, id) DO UPDATE SET channel = excluded.channel, provider = excluded.provider,
           priority = excluded.priority, config = excluded.config, credentials = excluded.credentials,
           enabled = excluded.enabled, rate_limit_per_second = excluded.rate_limit_per_second,
           updated_at = excluded.updated_at
         RETURNING *`,
        [
          record.tenantId,
          record.id,
          record.channel,
          record.provider,
          record.priority,
          JSON.stringify(record.config),
          record.sealedCredentials,
          record.enabled,
          now,
          record.perSecond ?? null,
        ],
      );
      return toIntegration(rows[0]!);
    },
    async getIntegration(tenantId, id) {
      const { rows } = await run<IntegrationRow>(
        db,
        'SELECT * FROM integrations WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      );
      return rows[0] ? toIntegration(rows[0]) : null;
    },
    async listIntegrations(tenantId, channel) {
      const { rows } = channel
        ? await run<IntegrationRow>(
            db,
            'SELECT * FROM integrations WHERE tenant_id = $1 AND channel = $2 ORDER BY priority, id',
            [tenantId, channel],
          )
        : await run<IntegrationRow>(
            db,
            'SELECT * FROM integrations WHERE tenant_id = $1 ORDER BY priority, id',
            [tenantId],
          );
      return rows.map(toIntegration);
    },
  };
}
