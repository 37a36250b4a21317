-- An erasure rewrites the events the subscriber was the `actor` of (eraseActorEvents): `actor`
-- named them in plain text, and was left there. Found through the events whose `actor` is theirs,
-- never a scan of the tenant's events. Partial: an event without an actor adds no entry, and its
-- insert pays only for a substring test of its payload (no JSON parse); the JSON is parsed for the
-- events that carry "actor": (rare, and the only ones the index holds). A payload is always
-- written compact (JSON.stringify), so a top-level actor is always spelt `"actor":`; a data key of
-- that name makes an entry too, under its event's actor (or NULL): harmless.
CREATE INDEX events_by_actor ON events(tenant_id, json_extract(payload, '$.actor'))
  WHERE instr(payload, '"actor":') > 0;
