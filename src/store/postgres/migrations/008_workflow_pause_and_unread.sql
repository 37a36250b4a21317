-- A workflow paused by Tidings itself (its renders kept running past their time budget), and the
-- count of its renders in a row that did. A PUT of the workflow clears both.
ALTER TABLE workflows ADD COLUMN paused_reason TEXT;
ALTER TABLE workflows ADD COLUMN render_timeouts INTEGER NOT NULL DEFAULT 0;

-- An in-app message that failed (template error or timeout), was suppressed or was cancelled (paused workflow)
-- never reached the inbox: the unread count leaves it out, still from the index alone.
DROP INDEX messages_unread;
CREATE INDEX messages_unread ON messages(tenant_id, subscriber_id)
  WHERE channel = 'in_app' AND read_at IS NULL AND archived_at IS NULL AND status NOT IN ('failed', 'suppressed', 'cancelled');
