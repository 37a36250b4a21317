-- Digests (API.md "Workflows"): a recipient's events with one rendered key gathered for a
-- window, then sent as one message. A digest row lives from the first event of its window to the
-- write of its messages, when it is deleted with its events. At most one open digest per
-- (tenant, workflow, subscriber, key): joins find it through digests_open, and a closed one
-- leaves that index, so the next event opens a new window.
CREATE TABLE digests (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  workflow TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  digest_key TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  closes_at INTEGER NOT NULL,
  closed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

CREATE UNIQUE INDEX digests_open ON digests (tenant_id, workflow, subscriber_id, digest_key) WHERE closed = 0;

-- The events a digest gathered; an event joins a digest once (a delivery run again adds nothing).
CREATE TABLE digest_events (
  tenant_id TEXT NOT NULL,
  digest_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  joined_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, digest_id, event_id)
) WITHOUT ROWID;
