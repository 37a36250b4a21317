-- DELETE /v1/events?cancellationKey=… finds a tenant's events with the key through this index,
-- not by reading every event. The key stays where the client put it, in the stored payload, so
-- tidings_accept (which inserts the payload as given) and `migrate --from` (which copies it
-- whole) need no change. Only events that carry a key are indexed; `?` on JSONB is a lookup in
-- the binary form, so events without one cost next to nothing to insert.
CREATE INDEX events_by_cancellation_key ON events (tenant_id, (payload->>'cancellationKey'))
  WHERE payload ? 'cancellationKey';
