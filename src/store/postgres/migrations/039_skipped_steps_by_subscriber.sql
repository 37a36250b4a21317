-- An erasure names the subscriber's skipped steps by their erased id (eraseSkippedSteps): this
-- finds them without reading every event's. Written only by conditional and digest steps.
CREATE INDEX skipped_steps_by_subscriber ON skipped_steps (tenant_id, subscriber_id);
