-- Claims share each lane among the tenants that have work (one tenant's million-job broadcast
-- must not queue another tenant's jobs behind it), so the ready index leads with the tenant.
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs(lane, tenant_id, run_at, id) WHERE state = 'ready';
