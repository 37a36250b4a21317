-- Digests (API.md "Workflows"): a recipient's events with one rendered key gathered for a
-- window, then sent as one message. A digest row lives from the first event of its window to the
-- write of its messages, when it is deleted with its events. At most one open digest per
-- (tenant, workflow, subscriber, key): joins upsert through digests_open (which locks the open
-- row until they commit, so a close waits for them), and a closed row leaves that index, so the
-- next event opens a new window.
CREATE TABLE digests (
  tenant_id TEXT COLLATE "C" NOT NULL,
  id TEXT COLLATE "C" NOT NULL,
  workflow TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  digest_key TEXT COLLATE "C" NOT NULL,
  opened_at BIGINT NOT NULL,
  closes_at BIGINT NOT NULL,
  closed BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX digests_open ON digests (tenant_id, workflow, subscriber_id, digest_key) WHERE NOT closed;

-- The events a digest gathered; an event joins a digest once (a delivery run again adds nothing).
CREATE TABLE digest_events (
  tenant_id TEXT COLLATE "C" NOT NULL,
  digest_id TEXT COLLATE "C" NOT NULL,
  event_id TEXT COLLATE "C" NOT NULL,
  joined_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, digest_id, event_id)
);
