-- When an erasure last began in each tenant. A delivery writes its messages only to recipients
-- that are still the subscribers it read (NewMessage.subscriberCreatedAt), and checks that one by
-- one only when an erasure began in the tenant since it read them: almost never, so a broadcast
-- pays one read per batch, not one per recipient.
CREATE TABLE erasures (
  tenant_id TEXT PRIMARY KEY,
  last_at   BIGINT NOT NULL
);
