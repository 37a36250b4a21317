-- Personal data rights (API.md "Subscribers…": consent log, export, erasure).
-- The consent log: every change to what a subscriber agreed to (a preference, an unsubscribe, a
-- STOP, a complaint, a hard bounce), appended in the transaction that made the change and never
-- edited — except by erasure, which keeps only a keyed hash of the subscriber id, the time, the
-- change and its source (the proof of an opt-out outlives the person's data).
CREATE TABLE consent_log (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id       TEXT NOT NULL,
  -- NULL once the subscriber is erased; `subscriber_hash` names them from then on.
  subscriber_id   TEXT,
  subscriber_hash TEXT,
  at              INTEGER NOT NULL,
  change          TEXT NOT NULL,
  source          TEXT NOT NULL,
  detail          TEXT
);
CREATE INDEX consent_log_by_subscriber ON consent_log(tenant_id, subscriber_id, id)
  WHERE subscriber_id IS NOT NULL;

-- Export and erasure find a subscriber's topics.
CREATE INDEX topic_members_by_subscriber ON topic_members(tenant_id, subscriber_id);
-- Erasure deletes the sandbox captures of a subscriber's messages.
CREATE INDEX sandbox_captures_by_message ON sandbox_captures(tenant_id, message_id);
