-- Provider reports that must take effect once: an SMS's STOP or START (Twilio's MessageSid). A
-- replayed START must not lift a STOP texted after it; Twilio signs no timestamp, so the report's
-- own id is what tells a replay. Kept as long as TIDINGS_RETENTION keeps messages.
CREATE TABLE provider_reports (
  tenant_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  applied_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);
CREATE INDEX provider_reports_by_age ON provider_reports(applied_at);
