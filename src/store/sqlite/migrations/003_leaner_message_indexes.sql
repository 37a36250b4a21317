-- Each message row is written at delivery rate, so every index on it costs on the hot path.
-- An event's messages are found through messages_once (tenant, event, …); the status index only
-- ever serves the dead-letter list, so it becomes a small partial index that status updates
-- rarely touch.
DROP INDEX messages_by_event;
DROP INDEX messages_by_status;
CREATE INDEX messages_dead ON messages(tenant_id, id) WHERE status = 'dead';
