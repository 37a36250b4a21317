-- DELETE /v1/events?cancellationKey=… finds a tenant's events with the key through this index,
-- not by reading every event. The key stays where the client put it, in the stored payload:
-- PostgreSQL accepts events inside tidings_accept, and a payload expression needs no change
-- there, nor in `migrate --from` (the payload is copied whole). Only events that carry a key
-- are indexed.
CREATE INDEX events_by_cancellation_key ON events (tenant_id, json_extract(payload, '$.cancellationKey'))
  WHERE json_extract(payload, '$.cancellationKey') IS NOT NULL;
