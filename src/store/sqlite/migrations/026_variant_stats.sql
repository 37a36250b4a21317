-- GET /v1/workflows/{key}/stats counts a workflow's A/B test messages per variant and status.
-- Only messages that carry a variant are indexed (most carry none): the substring test keeps
-- the JSON parse off every other insert, as events_by_cancellation_key does (migration 013).
CREATE INDEX messages_by_variant ON messages
  (tenant_id, workflow, json_extract(meta, '$.variant'), status)
  WHERE instr(meta, '"variant"') > 0;
