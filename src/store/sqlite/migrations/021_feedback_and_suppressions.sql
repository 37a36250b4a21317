-- Provider feedback (src/feedback): addresses a tenant must not send to on a channel, kept under a
-- SHA-256 of the normalised address (as devices keep tokens), so the delivery path reads a batch's
-- suppressions by primary key. One row per address: the first reason stays (a STOP after a hard
-- bounce does not turn it into something a START could lift).
CREATE TABLE suppressions (
  tenant_id    TEXT NOT NULL,
  channel      TEXT NOT NULL,
  address_hash TEXT NOT NULL,
  reason       TEXT NOT NULL,
  detail       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, address_hash, channel)
) WITHOUT ROWID;

-- Soft bounces per address, one row per bounced message (a redelivered callback counts once);
-- rows older than the window are pruned as new ones arrive.
CREATE TABLE soft_bounces (
  tenant_id    TEXT NOT NULL,
  channel      TEXT NOT NULL,
  address_hash TEXT NOT NULL,
  message_ref  TEXT NOT NULL,
  at           INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, address_hash, channel, message_ref)
) WITHOUT ROWID;

-- Callbacks name the provider's id for a message (Twilio MessageSid, SES mail.messageId…).
CREATE INDEX messages_by_provider_id ON messages(tenant_id, provider_message_id)
  WHERE provider_message_id IS NOT NULL;
-- The webhook URL names an integration without its tenant.
CREATE INDEX integrations_by_id ON integrations(id);
-- An inbound SMS STOP names a phone number.
CREATE INDEX subscribers_by_phone ON subscribers(tenant_id, phone) WHERE phone IS NOT NULL;
