-- Keys older than the idempotency window answer nothing; a periodic purge deletes them oldest
-- first, which without this index would scan the whole (large) key table every time.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
