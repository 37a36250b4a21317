-- Tidings embedded schema. Every hot table leads with tenant_id (see DESIGN.md "Storage").
-- Times are epoch milliseconds.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE tenants (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- Only a SHA-256 of each key is kept; keys carry 192 random bits, so a fast hash is enough.
CREATE TABLE api_keys (
  key_hash   TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  label      TEXT NOT NULL,
  prefix     TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, label);

CREATE TABLE subscribers (
  tenant_id  TEXT NOT NULL,
  id         TEXT NOT NULL,
  email      TEXT,
  phone      TEXT,
  locale     TEXT,
  timezone   TEXT,
  data       TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE topics (
  tenant_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  name       TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE topic_members (
  tenant_id     TEXT NOT NULL,
  topic_key     TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, topic_key, subscriber_id)
) WITHOUT ROWID;

CREATE TABLE workflows (
  tenant_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  definition TEXT NOT NULL,
  version    INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE integrations (
  tenant_id   TEXT NOT NULL,
  id          TEXT NOT NULL,
  channel     TEXT NOT NULL,
  provider    TEXT NOT NULL,
  priority    INTEGER NOT NULL,
  config      TEXT NOT NULL,
  credentials TEXT,
  enabled     INTEGER NOT NULL DEFAULT 1,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE events (
  tenant_id  TEXT NOT NULL,
  id         TEXT NOT NULL,
  workflow   TEXT NOT NULL,
  payload    TEXT NOT NULL,
  priority   TEXT NOT NULL,
  status     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

-- The unique key is the idempotency guarantee: it is checked in the transaction that stores the event.
CREATE TABLE idempotency_keys (
  tenant_id    TEXT NOT NULL,
  key          TEXT NOT NULL,
  event_id     TEXT NOT NULL,
  payload_hash TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;

CREATE TABLE messages (
  tenant_id     TEXT NOT NULL,
  id            TEXT NOT NULL,
  event_id      TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  channel       TEXT NOT NULL,
  workflow      TEXT NOT NULL,
  status        TEXT NOT NULL,
  provider      TEXT,
  content       TEXT NOT NULL,
  data          TEXT NOT NULL,
  timeline      TEXT NOT NULL,
  event_at      INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  seen_at       INTEGER,
  read_at       INTEGER,
  archived_at   INTEGER,
  last_error    TEXT,
  PRIMARY KEY (tenant_id, id)
);
-- Effectively-once: one message per (event, subscriber, channel).
CREATE UNIQUE INDEX messages_once ON messages(tenant_id, event_id, subscriber_id, channel);
CREATE INDEX messages_inbox ON messages(tenant_id, subscriber_id, event_at, id) WHERE channel = 'in_app';
CREATE INDEX messages_unread ON messages(tenant_id, subscriber_id)
  WHERE channel = 'in_app' AND read_at IS NULL AND archived_at IS NULL;
CREATE INDEX messages_by_subscriber ON messages(tenant_id, subscriber_id, id);
CREATE INDEX messages_by_status ON messages(tenant_id, status, id);

CREATE TABLE sandbox_captures (
  tenant_id  TEXT NOT NULL,
  id         TEXT NOT NULL,
  message_id TEXT NOT NULL,
  channel    TEXT NOT NULL,
  recipient  TEXT,
  content    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

-- The durable queue. state: ready | leased | dead. Finished jobs are deleted.
CREATE TABLE jobs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id     TEXT NOT NULL,
  kind          TEXT NOT NULL,
  lane          TEXT NOT NULL,
  partition_key TEXT,
  run_at        INTEGER NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL,
  state         TEXT NOT NULL DEFAULT 'ready',
  lease_owner   TEXT,
  lease_until   INTEGER,
  payload       TEXT NOT NULL,
  last_error    TEXT,
  created_at    INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs(lane, run_at, id) WHERE state = 'ready';
CREATE INDEX jobs_leased_partitions ON jobs(partition_key) WHERE state = 'leased';
CREATE INDEX jobs_leases ON jobs(lease_until) WHERE state = 'leased';
CREATE INDEX jobs_dead ON jobs(id) WHERE state = 'dead';
