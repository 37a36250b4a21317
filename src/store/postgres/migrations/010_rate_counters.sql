-- Workflow rate-limit counters (src/policy/rate-limit.ts): one row per counter scope, holding the
-- count of its current fixed window; a take in a later window resets it. Keyed tenant first
-- (Citus: distributed by tenant_id). Rows whose window ended are purged by the retention sweep.
CREATE TABLE rate_counters (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  scope      TEXT COLLATE "C" NOT NULL,
  window_end BIGINT NOT NULL,
  count      INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, scope)
);
CREATE INDEX rate_counters_window_end ON rate_counters(window_end);

-- A rate-limited in-app message never reached the inbox: lists and the unread count leave it out,
-- the count still from the index alone.
DROP INDEX messages_unread;
CREATE INDEX messages_unread ON messages(tenant_id, subscriber_id)
  WHERE channel = 'in_app' AND read_at IS NULL AND archived_at IS NULL
    AND status NOT IN ('failed', 'suppressed', 'cancelled', 'rate_limited');
