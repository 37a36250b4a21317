-- GET /v1/workflows/{key}/stats counts a workflow's A/B test messages per variant and status.
-- Only messages that carry a variant are indexed (most carry none).
CREATE INDEX messages_by_variant ON messages (tenant_id, workflow, (meta->>'variant'), status)
  WHERE meta ? 'variant';

-- Email layouts (PUT /v1/layouts/{key}): every PUT is a new immutable version, its MJML compiled
-- once, here. A delivery wraps an email in the version that was current when its event was
-- accepted (the newest one created at or before the event).
CREATE TABLE layout_versions (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  key        TEXT COLLATE "C" NOT NULL,
  version    INTEGER NOT NULL,
  kind       TEXT NOT NULL,
  source     TEXT NOT NULL,
  html       TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key, version)
);
