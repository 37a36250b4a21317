-- An erasure finds what it renames or deletes of one subscriber without reading the tenant's
-- whole tables: their skipped steps (eraseSkippedSteps; written only by conditional and digest
-- steps) and their open digests (beginErasure).
CREATE INDEX skipped_steps_by_subscriber ON skipped_steps (tenant_id, subscriber_id);
CREATE INDEX digests_by_subscriber ON digests (tenant_id, subscriber_id);
