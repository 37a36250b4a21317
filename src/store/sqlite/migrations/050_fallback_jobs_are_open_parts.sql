-- A fallback step still to fire is work of its event (src/pipeline/open-parts.ts): each `fallback`
-- job (src/pipeline/fallback-timers.ts) is an open part of the event its payload names, from the
-- write that queues it until it ends, on whatever path it ends: completed by its run (sent, not
-- needed, event cancelled, workflow deleted), dropped by an erasure, dead after its retries, or
-- deleted with its tenant. Without it, an event read `completed` while a fallback waited, and the
-- fallback's message appeared under it later. Kept by triggers, so no path that queues or ends
-- such a job can forget its part, and the count is written by the statement that writes the job
-- (no other round trip).
--
-- Opening a part on an event that did not count every part yet (counts_every_part 0): its only
-- part ran and made the messages this fallback follows, and wrote nothing (open-parts.ts), so its
-- count of 1 is stale and the fallback is its one open part. A write that also changes the
-- event's count applies that change first (a delivery writes its own change whenever it queues a
-- fallback, so the event is counted and locked before its jobs are inserted). Events accepted
-- before parts were counted (open_parts or counts_every_part NULL) keep reading as before.
CREATE TRIGGER fallback_job_opens_part AFTER INSERT ON jobs
  WHEN NEW.kind = 'fallback' AND NEW.state <> 'dead'
BEGIN
  UPDATE events SET open_parts = CASE WHEN counts_every_part THEN open_parts + 1 ELSE 1 END,
                    counts_every_part = 1
   WHERE tenant_id = NEW.tenant_id AND id = json_extract(NEW.payload, '$.eventId')
     AND open_parts IS NOT NULL AND counts_every_part IS NOT NULL;
END;

-- Never below 0: a part is only closed on an event that counts every part, and only once.
CREATE TRIGGER fallback_job_closes_part AFTER DELETE ON jobs
  WHEN OLD.kind = 'fallback' AND OLD.state <> 'dead'
BEGIN
  UPDATE events SET open_parts = open_parts - 1
   WHERE tenant_id = OLD.tenant_id AND id = json_extract(OLD.payload, '$.eventId')
     AND counts_every_part = 1 AND open_parts > 0;
END;

-- A dead job (retries exhausted) will not fire: the event's wait for it ends (the server logs it).
CREATE TRIGGER fallback_job_dies AFTER UPDATE OF state ON jobs
  WHEN NEW.kind = 'fallback' AND NEW.state = 'dead' AND OLD.state <> 'dead'
BEGIN
  UPDATE events SET open_parts = open_parts - 1
   WHERE tenant_id = NEW.tenant_id AND id = json_extract(NEW.payload, '$.eventId')
     AND counts_every_part = 1 AND open_parts > 0;
END;

-- The fallback jobs already waiting are counted now, as the triggers would have counted them.
UPDATE events
   SET open_parts = CASE WHEN counts_every_part THEN open_parts ELSE 0 END + w.n,
       counts_every_part = 1
  FROM (SELECT tenant_id, json_extract(payload, '$.eventId') AS event_id, count(*) AS n
          FROM jobs WHERE kind = 'fallback' AND state <> 'dead'
         GROUP BY 1, 2) AS w
 WHERE events.tenant_id = w.tenant_id AND events.id = w.event_id
   AND events.open_parts IS NOT NULL AND events.counts_every_part IS NOT NULL;
