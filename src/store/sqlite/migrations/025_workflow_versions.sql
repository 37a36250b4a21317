-- Workflow versions (API.md "Templates: locales, messages, versions, variants"): every PUT keeps
-- its definition here, immutable, beside the current one in `workflows`. An event records the
-- version that was current when it was accepted (`events.workflow_version`, set in the insert),
-- and every later delivery of it (scheduled, deferred, digest close, fallback) renders with that
-- version. Events accepted before this migration have none: they use the current version.
CREATE TABLE workflow_versions (
  tenant_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  version    INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key, version)
) WITHOUT ROWID;

INSERT INTO workflow_versions (tenant_id, key, version, definition, created_at)
SELECT tenant_id, key, version, definition, updated_at FROM workflows;

ALTER TABLE events ADD COLUMN workflow_version INTEGER;
