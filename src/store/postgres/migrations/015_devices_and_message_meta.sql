-- Devices (API.md "Subscribers, devices…"): where a subscriber's push and web push messages go.
-- `token` is the APNs or FCM token ('' for web push, whose PushSubscription is `subscription`).
-- `address_hash` is a SHA-256 of the platform and token (or endpoint): one device per address in
-- a tenant, so a token PUT under another subscriber moves there (a phone changed hands) instead
-- of pushing to two people, and FCM tokens (up to 4 KiB) never go into a B-tree.
CREATE TABLE devices (
  tenant_id      TEXT COLLATE "C" NOT NULL,
  subscriber_id  TEXT COLLATE "C" NOT NULL,
  id             TEXT COLLATE "C" NOT NULL,
  platform       TEXT NOT NULL,
  token          TEXT NOT NULL,
  subscription   JSONB,
  address_hash   TEXT COLLATE "C" NOT NULL,
  active         BOOLEAN NOT NULL DEFAULT TRUE,
  deactivated_at BIGINT,
  reason         TEXT,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subscriber_id, id)
);
CREATE UNIQUE INDEX devices_by_address ON devices(tenant_id, address_hash);

-- One message per device: the push channel sends one per active device. '' on every message that
-- goes to no device, so the unique key keeps re-runs of a delivery idempotent (NULLs would not).
ALTER TABLE messages ADD COLUMN device_id TEXT COLLATE "C" NOT NULL DEFAULT '';
DROP INDEX messages_once;
CREATE UNIQUE INDEX messages_once ON messages(tenant_id, event_id, subscriber_id, channel, device_id);

-- What the message view shows of the provider's answer: its id for the message, and the channel's meta.
ALTER TABLE messages ADD COLUMN provider_message_id TEXT;
ALTER TABLE messages ADD COLUMN meta JSONB NOT NULL DEFAULT '{}';
