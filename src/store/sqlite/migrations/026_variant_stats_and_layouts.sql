-- GET /v1/workflows/{key}/stats counts a workflow's A/B test messages per variant and status.
-- Only messages that carry a variant are indexed (most carry none): the substring test keeps
-- the JSON parse off every other insert, as events_by_cancellation_key does (migration 013).
CREATE INDEX messages_by_variant ON messages
  (tenant_id, workflow, json_extract(meta, '$.variant'), status)
  WHERE instr(meta, '"variant"') > 0;

-- Email layouts (PUT /v1/layouts/{key}): every PUT is a new immutable version, its MJML compiled
-- once, here. A delivery wraps an email in the version that was current when its event was
-- accepted (the newest one created at or before the event).
CREATE TABLE layout_versions (
  tenant_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  version    INTEGER NOT NULL,
  kind       TEXT NOT NULL,
  source     TEXT NOT NULL,
  html       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key, version)
) WITHOUT ROWID;
