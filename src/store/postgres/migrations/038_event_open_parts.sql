-- How many parts of an event's recipient work (its fanout, each page of it, each deliver job) are
-- still to run, counted down only by parts that made nothing for anyone (src/shared/model.ts,
-- EventRecord.openParts): at 0 every part ran and nobody got a message, and the event reads
-- `completed` instead of `accepted` forever. A new event starts at 1, its first (fanout) job: the
-- column's default, so tidings_accept is unchanged. Events accepted before this migration keep
-- NULL: their parts were never counted, so they are not counted now either (NULL plus a change
-- stays NULL) and read as they did. Neither statement rewrites the table.
ALTER TABLE events ADD COLUMN open_parts INTEGER;
ALTER TABLE events ALTER COLUMN open_parts SET DEFAULT 1;
