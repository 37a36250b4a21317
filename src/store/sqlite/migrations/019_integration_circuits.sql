-- Circuit breakers (API.md "Integrations", `circuit`): the state each integration's breaker last
-- moved to, written by the workers on transitions only, read by GET /v1/integrations and /metrics.
CREATE TABLE integration_circuits (
  tenant_id TEXT NOT NULL,
  integration_id TEXT NOT NULL,
  state TEXT NOT NULL,
  failures INTEGER NOT NULL,
  opened_at INTEGER,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, integration_id)
);
