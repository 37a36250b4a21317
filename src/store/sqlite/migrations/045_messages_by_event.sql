-- An event's messages newest first, a page at a time (GET /v1/events/{id}, GET /v1/messages?eventId=):
-- messages_once holds an event's messages by recipient, so every page read and sorted all of them —
-- an event to a topic of 30,000 members took 0.3 s a page, the whole event view 0.9 s, with the
-- event loop held throughout. Both event and message ids grow with time, so new entries land at
-- the index's right edge.
CREATE INDEX messages_by_event ON messages(tenant_id, event_id, id);
