-- A workflow paused by Tidings itself (its renders kept running past their time budget), and the
-- count of its renders in a row that did. A PUT of the workflow clears both.
ALTER TABLE workflows ADD COLUMN paused_reason TEXT;
ALTER TABLE workflows ADD COLUMN render_timeouts INTEGER NOT NULL DEFAULT 0;
