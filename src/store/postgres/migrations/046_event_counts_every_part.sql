-- Whether every part of an event's recipient work is counted in open_parts, the parts that made
-- messages too (src/shared/model.ts, EventRecord.countsEveryPart). Set by the first write of a
-- change to the count, which only an event with more than one part at a time makes: a topic
-- fanned out over several deliver jobs, a scheduled page split into later deliveries. Until then
-- (an event delivered by its first job alone, the common case) a part that made messages writes
-- nothing, and the event's messages tell its status. Without it, such an event read `completed`
-- as soon as the messages of its first deliver jobs were delivered, with others still queued.
-- Events accepted before this migration keep NULL, and a change to their count leaves it NULL:
-- their parts that made messages were never counted, so they read as they did (a broadcast in
-- flight across the upgrade would otherwise be marked with a count that can no longer reach 0).
-- New events get FALSE from the column's default (tidings_accept names no such column).
ALTER TABLE events ADD COLUMN counts_every_part BOOLEAN;
ALTER TABLE events ALTER COLUMN counts_every_part SET DEFAULT FALSE;
