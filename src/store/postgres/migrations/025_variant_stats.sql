-- GET /v1/workflows/{key}/stats counts a workflow's A/B test messages per variant and status.
-- Only messages that carry a variant are indexed (most carry none).
CREATE INDEX messages_by_variant ON messages (tenant_id, workflow, (meta->>'variant'), status)
  WHERE meta ? 'variant';
