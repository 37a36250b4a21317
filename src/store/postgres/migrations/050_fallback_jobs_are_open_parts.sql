-- A fallback step still to fire is work of its event (src/pipeline/open-parts.ts): each `fallback`
-- job (src/pipeline/fallback-timers.ts) is an open part of the event its payload names, from the
-- write that queues it until it ends, on whatever path it ends: completed by its run (sent, not
-- needed, event cancelled, workflow deleted), dropped by an erasure, dead after its retries, or
-- deleted with its tenant. Without it, an event read `completed` while a fallback waited, and the
-- fallback's message appeared under it later. Kept by triggers, so no path that queues or ends
-- such a job can forget its part, and the count is written by the statement that writes the job
-- (no other round trip). Row triggers fire at the end of their statement: after the statement's
-- own change to the event's count (changeOpenPartsFrom), and with the event row already locked by
-- it (in key order) when a delivery queues the job.
--
-- Opening a part on an event that did not count every part yet (counts_every_part FALSE): its
-- only part ran and made the messages this fallback follows, and wrote nothing (open-parts.ts), so
-- its count of 1 is stale and the fallback is its one open part. Events accepted before parts
-- were counted (open_parts or counts_every_part NULL) keep reading as before.
CREATE FUNCTION tidings_fallback_part() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE events SET open_parts = CASE WHEN counts_every_part THEN open_parts + 1 ELSE 1 END,
                      counts_every_part = TRUE
     WHERE tenant_id = NEW.tenant_id AND id = NEW.payload->>'eventId'
       AND open_parts IS NOT NULL AND counts_every_part IS NOT NULL;
  ELSE
    -- Deleted, or dead after its retries (it will not fire). Never below 0, and only on an event
    -- that counts every part (one whose part was opened).
    UPDATE events SET open_parts = open_parts - 1
     WHERE tenant_id = OLD.tenant_id AND id = OLD.payload->>'eventId'
       AND counts_every_part AND open_parts > 0;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER fallback_job_opens_part AFTER INSERT ON jobs FOR EACH ROW
  WHEN (NEW.kind = 'fallback' AND NEW.state <> 'dead') EXECUTE FUNCTION tidings_fallback_part();
CREATE TRIGGER fallback_job_closes_part AFTER DELETE ON jobs FOR EACH ROW
  WHEN (OLD.kind = 'fallback' AND OLD.state <> 'dead') EXECUTE FUNCTION tidings_fallback_part();
CREATE TRIGGER fallback_job_dies AFTER UPDATE OF state ON jobs FOR EACH ROW
  WHEN (NEW.kind = 'fallback' AND NEW.state = 'dead' AND OLD.state <> 'dead')
  EXECUTE FUNCTION tidings_fallback_part();

-- The fallback jobs already waiting are counted now, as the triggers would have counted them.
UPDATE events e
   SET open_parts = CASE WHEN e.counts_every_part THEN e.open_parts ELSE 0 END + w.n,
       counts_every_part = TRUE
  FROM (SELECT tenant_id, payload->>'eventId' AS event_id, count(*)::INT AS n
          FROM jobs WHERE kind = 'fallback' AND state <> 'dead'
         GROUP BY 1, 2) AS w
 WHERE e.tenant_id = w.tenant_id AND e.id = w.event_id
   AND e.open_parts IS NOT NULL AND e.counts_every_part IS NOT NULL;
