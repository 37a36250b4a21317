-- The wake job waiting to end an item's snooze (jobs.id; null: none queued yet). Snoozing the
-- item again moves that job to the new time instead of queueing another: each snooze queued one,
-- up to a year ahead, so one subscriber re-snoozing in a loop grew the jobs table without bound.
-- Job ids are never reused (AUTOINCREMENT), so one that finished or was dropped matches nothing.
ALTER TABLE messages ADD COLUMN wake_job_id INTEGER;
