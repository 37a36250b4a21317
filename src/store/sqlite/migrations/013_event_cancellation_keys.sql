-- DELETE /v1/events?cancellationKey=… finds a tenant's events with the key through this index,
-- not by reading every event. The key stays where the client put it, in the stored payload:
-- PostgreSQL accepts events inside tidings_accept, and a payload expression needs no change
-- there, nor in `migrate --from` (the payload is copied whole).
-- Only payloads holding the text "cancellationKey" are indexed. That test is a substring search,
-- so an event without a key (nearly all of them) costs its insert no JSON parse: json_extract is
-- only run for the rest. A payload that merely mentions the word deeper inside is indexed under
-- NULL, which no key matches.
CREATE INDEX events_by_cancellation_key ON events (tenant_id, json_extract(payload, '$.cancellationKey'))
  WHERE instr(payload, '"cancellationKey"') > 0;
