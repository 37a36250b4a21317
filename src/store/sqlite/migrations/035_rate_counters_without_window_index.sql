-- The window_end index cost every counter write (a delivery batch with a rate limit or a daily cap
-- writes one counter per recipient) and served only the purge of ended counters. The purge now
-- walks the primary key a bounded stretch at a time (src/store/sqlite/rate-counters.ts), and every
-- read compares window_end itself, so an ended counter waiting for its turn is never counted.
DROP INDEX IF EXISTS rate_counters_window_end;
