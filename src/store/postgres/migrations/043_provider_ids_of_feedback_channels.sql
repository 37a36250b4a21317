-- Provider callbacks find a message by its provider's id only on email and SMS (SES, SendGrid,
-- Twilio report by their own ids; push providers report nothing back). Indexing every channel's
-- ids put each push's APNs id, a random UUID, at a random place in this index: a page written per
-- push. The lookups repeat this condition.
--
-- The new index is built under its own name before the old one goes: the build takes a SHARE lock
-- (reads go on, writes wait for it, as for every index a migration builds), and the ACCESS EXCLUSIVE
-- lock that dropping an index takes is held only for the drop at the end, not for the build.
CREATE INDEX messages_by_feedback_provider_id ON messages(tenant_id, provider_message_id)
  WHERE provider_message_id IS NOT NULL AND channel IN ('email', 'sms');
DROP INDEX IF EXISTS messages_by_provider_id;
