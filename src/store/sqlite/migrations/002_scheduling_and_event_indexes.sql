-- Idle workers ask for the earliest delayed job; without this index that is a scan of every
-- scheduled job (sendAt, retries, timers).
CREATE INDEX jobs_next_run ON jobs(run_at) WHERE state = 'ready';

-- GET /v1/events/{id} and /v1/messages?eventId= list an event's messages newest first.
CREATE INDEX messages_by_event ON messages(tenant_id, event_id, id);
