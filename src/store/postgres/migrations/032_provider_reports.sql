-- Provider reports that must take effect once: an SMS's STOP or START (Twilio's MessageSid, held
-- to Twilio's SID form: src/feedback/twilio-events.ts). A replayed START must not lift a STOP
-- texted after it, and Twilio signs no timestamp: the report's id is what tells a replay, so the
-- rows are kept for good (one small row per inbound STOP or START).
CREATE TABLE provider_reports (
  tenant_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  applied_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);
