import type Database from 'better-sqlite3';
import type { IntegrationStore, ResealedCredentials, WorkflowStore } from '../port.ts';
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
import { sizedPage } from './sized-page.ts';

export function sqliteWorkflowStore(db: Database.Database): WorkflowStore {
  const put = db.prepare(
    // A workflow deleted and saved again goes on from its last version: numbers never repeat, so
    // a version compiled (or pinned by an event) before the delete is never mistaken for a new one.
    `INSERT INTO workflows (tenant_id, key, definition, version, created_at, updated_at)
     VALUES (@tenantId, @key, @definition,
       (SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_versions WHERE tenant_id = @tenantId AND key = @key),
       @now, @now)
     ON CONFLICT (tenant_id, key) DO UPDATE SET definition = excluded.definition,
       version = workflows.version + 1, updated_at = excluded.updated_at,
       paused_reason = NULL, render_timeouts = 0
     RETURNING *`,
  );
  const keepVersion = db.prepare(
    'INSERT INTO workflow_versions (tenant_id, key, version, definition, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const save = db.transaction((tenantId: string, key: string, definition: string, now: number) => {
    const row = put.get({ tenantId, key, definition, now }) as WorkflowRow;
    keepVersion.run(tenantId, key, row.version, definition, now);
    return row;
  });
  const getVersion = db.prepare(
    'SELECT * FROM workflow_versions WHERE tenant_id = ? AND key = ? AND version = ?',
  );
  const listVersions = db.prepare(
    `SELECT * FROM workflow_versions WHERE tenant_id = @tenantId AND key = @key AND version < @before
      ORDER BY version DESC LIMIT @limit`,
  );
  const insertLayout = db.prepare(
    `INSERT INTO layout_versions (tenant_id, key, version, kind, source, html, created_at)
     SELECT @tenantId, @key, COALESCE(MAX(version), 0) + 1, @kind, @source, @html, @now
       FROM layout_versions WHERE tenant_id = @tenantId AND key = @key
     RETURNING *`,
  );
  // Newest first, the first row created by `at` — or the oldest version, which is always among
  // the candidates and comes last: the newest row created by `at` is never older than it.
  const layoutAt = db.prepare(
    `SELECT * FROM layout_versions WHERE tenant_id = @tenantId AND key = @key
        AND (created_at <= @at
             OR version = (SELECT MIN(version) FROM layout_versions WHERE tenant_id = @tenantId AND key = @key))
      ORDER BY version DESC LIMIT 1`,
  );
  const hasLayout = db
    .prepare('SELECT EXISTS (SELECT 1 FROM layout_versions WHERE tenant_id = ? AND key = ?)')
    .pluck();
  const get = db.prepare('SELECT * FROM workflows WHERE tenant_id = ? AND key = ?');
  // Every right-hand side reads the row as it was, so both use the count before this update.
  const countTimeouts = db.prepare(
    `UPDATE workflows SET
       render_timeouts = (CASE WHEN @afterSuccess THEN 0 ELSE render_timeouts END) + @timeouts,
       paused_reason = CASE
         WHEN paused_reason IS NULL AND (CASE WHEN @afterSuccess THEN 0 ELSE render_timeouts END) + @timeouts >= @pauseAt
         THEN @reason ELSE paused_reason END
     WHERE tenant_id = @tenantId AND key = @key AND version = @version
     RETURNING *`,
  );
  const list = db.prepare(
    'SELECT * FROM workflows WHERE tenant_id = @tenantId AND key > @after ORDER BY key LIMIT @limit',
  );
  return {
    async putWorkflow(tenantId, key, definition, now) {
      return toWorkflow(save.immediate(tenantId, key, JSON.stringify(definition), now));
    },
    async getWorkflowVersion(tenantId, key, version) {
      const row = getVersion.get(tenantId, key, version) as WorkflowVersionRow | undefined;
      return row ? toWorkflowVersion(row) : null;
    },
    async putLayout(tenantId, key, layout, now) {
      const row = db
        .transaction(() => insertLayout.get({ tenantId, key, ...layout, now }) as LayoutRow)
        .immediate();
      return toLayout(row);
    },
    async layoutAt(tenantId, key, at) {
      const row = layoutAt.get({ tenantId, key, at }) as LayoutRow | undefined;
      return row ? toLayout(row) : null;
    },
    async hasLayout(tenantId, key) {
      return hasLayout.get(tenantId, key) === 1;
    },
    async listWorkflowVersions(tenantId, key, page) {
      const before = page?.before ?? Number.MAX_SAFE_INTEGER;
      const rows = listVersions.all({ tenantId, key, before, limit: page?.limit ?? -1 });
      return (rows as WorkflowVersionRow[]).map(toWorkflowVersion);
    },
    async pageWorkflowVersions(tenantId, key, page) {
      const before = page.before ?? Number.MAX_SAFE_INTEGER;
      return sizedPage(
        listVersions,
        { tenantId, key, before },
        page,
        (row: WorkflowVersionRow) => row.definition.length,
        toWorkflowVersion,
      );
    },
    async getWorkflow(tenantId, key) {
      const row = get.get(tenantId, key) as WorkflowRow | undefined;
      return row ? toWorkflow(row) : null;
    },
    async listWorkflows(tenantId, page) {
      const rows = list.all({ tenantId, after: page?.after ?? '', limit: page?.limit ?? -1 });
      return (rows as WorkflowRow[]).map(toWorkflow);
    },
    async pageWorkflows(tenantId, page) {
      return sizedPage(
        list,
        { tenantId, after: page.after ?? '' },
        page,
        (row: WorkflowRow) => row.definition.length,
        toWorkflow,
      );
    },
    async countRenderTimeouts(tenantId, key, version, outcome, pause) {
      const row = countTimeouts.get({
        tenantId,
        key,
        version,
        timeouts: outcome.timeouts,
        afterSuccess: outcome.afterSuccess ? 1 : 0,
        pauseAt: pause.at,
        reason: pause.reason,
      }) as WorkflowRow | undefined;
      return row ? toWorkflow(row) : null;
    },
  };
}

export function sqliteIntegrationStore(db: Database.Database): IntegrationStore {
  const put = db.prepare(
    `INSERT INTO integrations (tenant_id, id, channel, provider, priority, config, credentials, enabled,
       rate_limit_per_second, created_at, updated_at)
     VALUES (@tenant_id, @id, @channel, @provider, @priority, @config, @credentials, @enabled, @per_second, @now, @now)
     ON CONFLICT (tenant_id, id) DO UPDATE SET channel = excluded.channel, provider = excluded.provider,
       priority = excluded.priority, config = excluded.config, credentials = excluded.credentials,
       enabled = excluded.enabled, rate_limit_per_second = excluded.rate_limit_per_second,
       updated_at = excluded.updated_at
     RETURNING *`,
  );
  const get = db.prepare('SELECT * FROM integrations WHERE tenant_id = ? AND id = ?');
  const listAll = db.prepare('SELECT * FROM integrations WHERE tenant_id = ? ORDER BY priority, id');
  const listChannel = db.prepare(
    'SELECT * FROM integrations WHERE tenant_id = ? AND channel = ? ORDER BY priority, id',
  );
  const sealed = db.prepare(
    'SELECT tenant_id, id, credentials FROM integrations WHERE credentials IS NOT NULL ORDER BY tenant_id, id',
  );
  const reseal = db.prepare(
    'UPDATE integrations SET credentials = ? WHERE tenant_id = ? AND id = ? AND credentials = ?',
  );
  const resealAll = db.transaction((changes: readonly ResealedCredentials[]) => {
    let changed = 0;
    for (const c of changes) changed += reseal.run(c.to, c.tenantId, c.integrationId, c.from).changes;
    return changed;
  });
  return {
    async listSealedCredentials() {
      const rows = sealed.all() as { tenant_id: string; id: string; credentials: string }[];
      return rows.map((r) => ({ tenantId: r.tenant_id, integrationId: r.id, sealed: r.credentials }));
    },
    async resealCredentials(changes) {
      return changes.length === 0 ? 0 : resealAll.immediate(changes);
    },
    async putIntegration(record, now) {
      const row = put.get({
        tenant_id: record.tenantId,
        id: record.id,
        channel: record.channel,
        provider: record.provider,
        priority: record.priority,
        config: JSON.stringify(record.config),
        credentials: record.sealedCredentials,
        enabled: record.enabled ? 1 : 0,
        per_second: record.perSecond ?? null,
        now,
      }) as IntegrationRow;
      return toIntegration(row);
    },
    async getIntegration(tenantId, id) {
      const row = get.get(tenantId, id) as IntegrationRow | undefined;
      return row ? toIntegration(row) : null;
    },
    async listIntegrations(tenantId, channel) {
      const rows = (channel ? listChannel.all(tenantId, channel) : listAll.all(tenantId)) as IntegrationRow[];
      return rows.map(toIntegration);
    },
  };
}
