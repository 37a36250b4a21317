-- Tidings on PostgreSQL: the same tables as the embedded schema (sqlite/migrations 001–004).
-- Every hot table leads with tenant_id, so the schema can later be distributed by tenant
-- (Citus: distribute by tenant_id, settings and tenants as reference tables).
-- Times are epoch milliseconds. Identifiers use the "C" collation: byte order, as in SQLite,
-- so ids sort (and cursors page) the same on both stores.

CREATE TABLE settings (
  key   TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE tenants (
  id         TEXT COLLATE "C" PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

-- Only a SHA-256 of each key is kept; keys carry 192 random bits, so a fast hash is enough.
CREATE TABLE api_keys (
  key_hash   TEXT COLLATE "C" PRIMARY KEY,
  tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
  label      TEXT NOT NULL,
  prefix     TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, label);

CREATE TABLE subscribers (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  id         TEXT COLLATE "C" NOT NULL,
  email      TEXT,
  phone      TEXT,
  locale     TEXT,
  timezone   TEXT,
  data       JSONB NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE topics (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  key        TEXT COLLATE "C" NOT NULL,
  name       TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE topic_members (
  tenant_id     TEXT COLLATE "C" NOT NULL,
  topic_key     TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  created_at    BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, topic_key, subscriber_id)
);

CREATE TABLE workflows (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  key        TEXT COLLATE "C" NOT NULL,
  definition JSONB NOT NULL,
  version    INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE integrations (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  id          TEXT COLLATE "C" NOT NULL,
  channel     TEXT NOT NULL,
  provider    TEXT NOT NULL,
  priority    INTEGER NOT NULL,
  config      JSONB NOT NULL,
  credentials TEXT,
  enabled     BOOLEAN NOT NULL DEFAULT TRUE,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE events (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  id         TEXT COLLATE "C" NOT NULL,
  workflow   TEXT NOT NULL,
  payload    JSONB NOT NULL,
  priority   TEXT NOT NULL,
  status     TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

-- The unique key is the idempotency guarantee: it is checked in the transaction that stores the event.
CREATE TABLE idempotency_keys (
  tenant_id    TEXT COLLATE "C" NOT NULL,
  key          TEXT COLLATE "C" NOT NULL,
  event_id     TEXT NOT NULL,
  payload_hash TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE messages (
  tenant_id     TEXT COLLATE "C" NOT NULL,
  id            TEXT COLLATE "C" NOT NULL,
  event_id      TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  channel       TEXT COLLATE "C" NOT NULL,
  workflow      TEXT NOT NULL,
  status        TEXT NOT NULL,
  provider      TEXT,
  content       JSONB NOT NULL,
  data          JSONB NOT NULL,
  timeline      JSONB NOT NULL,
  event_at      BIGINT NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  seen_at       BIGINT,
  read_at       BIGINT,
  archived_at   BIGINT,
  last_error    TEXT,
  PRIMARY KEY (tenant_id, id)
);
-- Effectively-once: one message per (event, subscriber, channel).
CREATE UNIQUE INDEX messages_once ON messages(tenant_id, event_id, subscriber_id, channel);
CREATE INDEX messages_inbox ON messages(tenant_id, subscriber_id, event_at, id) WHERE channel = 'in_app';
CREATE INDEX messages_unread ON messages(tenant_id, subscriber_id)
  WHERE channel = 'in_app' AND read_at IS NULL AND archived_at IS NULL;
CREATE INDEX messages_by_subscriber ON messages(tenant_id, subscriber_id, id);
CREATE INDEX messages_dead ON messages(tenant_id, id) WHERE status = 'dead';

CREATE TABLE sandbox_captures (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  id         TEXT COLLATE "C" NOT NULL,
  message_id TEXT NOT NULL,
  channel    TEXT NOT NULL,
  recipient  TEXT,
  content    JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

-- The durable queue. state: ready | leased | dead. Finished jobs are deleted, so the table stays
-- as small as the backlog; autovacuum is told to clean it after 1% churn rather than 20%, with
-- no cost delay, so dead tuples from a long-running queue never pile up (see README "Running in
-- production"). fillfactor leaves room for HOT updates of the lease columns.
CREATE TABLE jobs (
  id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id     TEXT COLLATE "C" NOT NULL,
  kind          TEXT NOT NULL,
  lane          TEXT COLLATE "C" NOT NULL,
  partition_key TEXT COLLATE "C",
  run_at        BIGINT NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL,
  state         TEXT NOT NULL DEFAULT 'ready',
  lease_owner   TEXT,
  lease_until   BIGINT,
  payload       JSONB NOT NULL,
  last_error    TEXT,
  created_at    BIGINT NOT NULL
) WITH (
  fillfactor = 70,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0.01,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);
-- Claims share each lane among the tenants that have work.
CREATE INDEX jobs_ready ON jobs(lane, tenant_id, run_at, id) WHERE state = 'ready';
CREATE INDEX jobs_leased_partitions ON jobs(partition_key) WHERE state = 'leased';
CREATE INDEX jobs_leases ON jobs(lease_until) WHERE state = 'leased';
CREATE INDEX jobs_dead ON jobs(id) WHERE state = 'dead';
CREATE INDEX jobs_next_run ON jobs(run_at) WHERE state = 'ready';
