-- Provider callbacks find a message by its provider's id only on email and SMS (SES, SendGrid,
-- Twilio report by their own ids; push providers report nothing back). Indexing every channel's
-- ids put each push's APNs id, a random UUID, at a random place in this index: a page written to
-- the log per push, about a sixth of a push's message writes. The lookups repeat this condition.
DROP INDEX IF EXISTS messages_by_provider_id;
CREATE INDEX messages_by_provider_id ON messages(tenant_id, provider_message_id)
  WHERE provider_message_id IS NOT NULL AND channel IN ('email', 'sms');
