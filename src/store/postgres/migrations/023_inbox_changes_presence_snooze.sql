-- Resumable inbox streams (API.md "Inbox": `Last-Event-ID` / `?after=`): every change to what a
-- subscriber's inbox shows is logged with the change that made it, numbered per subscriber.
-- `inbox_cursors` holds each subscriber's last number: writers of one subscriber queue on its row,
-- so numbers follow commit order and a reader that has seen n never misses a later commit below n.
CREATE TABLE inbox_cursors (
  tenant_id     TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  last_seq      BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subscriber_id)
);

CREATE TABLE inbox_changes (
  tenant_id     TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  seq           BIGINT NOT NULL,
  type          TEXT NOT NULL,
  item_id       TEXT,
  created_at    BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subscriber_id, seq)
);
-- The purge deletes the oldest first.
CREATE INDEX inbox_changes_by_age ON inbox_changes(created_at);

-- `skipIfOnline`: who has a live inbox connection in any process. One row per (subscriber,
-- process), extended by the process's heartbeat; a process that died leaves rows that expire.
CREATE TABLE inbox_presence (
  tenant_id     TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  holder        TEXT COLLATE "C" NOT NULL,
  expires_at    BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subscriber_id, holder)
);
CREATE INDEX inbox_presence_by_holder ON inbox_presence(holder);
CREATE INDEX inbox_presence_by_expiry ON inbox_presence(expires_at);

-- A snoozed item is hidden (lists, unread count) until its wake job brings it back as new.
ALTER TABLE messages ADD COLUMN snoozed_until BIGINT;
DROP INDEX messages_unread;
CREATE INDEX messages_unread ON messages(tenant_id, subscriber_id)
  WHERE channel = 'in_app' AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL
    AND status NOT IN ('failed', 'suppressed', 'cancelled', 'rate_limited');
