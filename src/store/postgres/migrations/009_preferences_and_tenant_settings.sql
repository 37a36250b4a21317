-- A subscriber's own consent choices (API.md "preferences"): one row per subscriber who made any,
-- keyed tenant first (Citus: distributed by tenant_id). The delivery path reads a batch's rows by
-- primary key, so a tenant whose subscribers made no choices costs one empty index probe per
-- recipient. No row: no choices.
CREATE TABLE preferences (
  tenant_id     TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  choices       JSONB NOT NULL,
  updated_at    BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subscriber_id)
);

-- A tenant's settings (API.md `/v1/settings`); no row: every setting at its default.
CREATE TABLE tenant_settings (
  tenant_id  TEXT COLLATE "C" PRIMARY KEY,
  settings   JSONB NOT NULL,
  updated_at BIGINT NOT NULL
);
