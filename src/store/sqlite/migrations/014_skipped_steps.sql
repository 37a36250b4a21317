-- Steps a recipient did not get because the step's `if` was false: GET /v1/events/{id} lists
-- them under `skipped`. One row per (event, subscriber, step), written in the same transaction as
-- that delivery's messages; a delivery job that runs again writes nothing twice. Workflows
-- without conditions never touch this table.
CREATE TABLE skipped_steps (
  tenant_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  channel TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, event_id, subscriber_id, step)
) WITHOUT ROWID;
