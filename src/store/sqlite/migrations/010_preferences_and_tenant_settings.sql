-- A subscriber's own consent choices (API.md "preferences"): one row per subscriber who made any,
-- keyed tenant first. The delivery path reads a batch's rows by primary key, so a tenant whose
-- subscribers made no choices costs one empty index probe per recipient. No row: no choices.
CREATE TABLE preferences (
  tenant_id     TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  choices       TEXT NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, subscriber_id)
) WITHOUT ROWID;

-- A tenant's settings (API.md `/v1/settings`); no row: every setting at its default.
CREATE TABLE tenant_settings (
  tenant_id  TEXT PRIMARY KEY,
  settings   TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
