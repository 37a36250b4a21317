-- An erasure rewrites the events the subscriber was the `actor` of (eraseActorEvents): `actor`
-- named them in plain text, and was left there. Found through the events whose `actor` is theirs,
-- never a scan of the tenant's events. Partial: an event without an actor adds no entry (its
-- insert pays only for a key test of its JSONB payload).
CREATE INDEX events_by_actor ON events (tenant_id, (payload->>'actor')) WHERE payload ? 'actor';
