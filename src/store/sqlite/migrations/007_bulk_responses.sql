-- The first answer to a bulk request sent with an Idempotency-Key header, replayed for 24 h to
-- a repeat with the same body (body_hash); another body under the key answers 409. Purged by
-- age like idempotency_keys. A rowid table: responses run to tens of kilobytes.
CREATE TABLE bulk_responses (
  tenant_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  body_hash  TEXT NOT NULL,
  response   TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
);
CREATE INDEX bulk_responses_by_age ON bulk_responses(created_at);
