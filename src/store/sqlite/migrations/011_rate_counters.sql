-- Workflow rate-limit counters (src/policy/rate-limit.ts): one row per counter scope, holding the
-- count of its current fixed window; a take in a later window resets it. Rows whose window ended
-- are purged by the retention sweep (window_end index), so idle scopes do not linger.
CREATE TABLE rate_counters (
  tenant_id  TEXT NOT NULL,
  scope      TEXT NOT NULL,
  window_end INTEGER NOT NULL,
  count      INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, scope)
) WITHOUT ROWID;
CREATE INDEX rate_counters_window_end ON rate_counters(window_end);

-- A rate-limited in-app message never reached the inbox: lists and the unread count leave it out,
-- the count still from the index alone.
DROP INDEX messages_unread;
CREATE INDEX messages_unread ON messages(tenant_id, subscriber_id)
  WHERE channel = 'in_app' AND read_at IS NULL AND archived_at IS NULL
    AND status NOT IN ('failed', 'suppressed', 'cancelled', 'rate_limited');
