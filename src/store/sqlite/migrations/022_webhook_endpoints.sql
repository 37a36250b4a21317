-- Outbound status webhooks (API.md "Receipts, feedback, unsubscribe"): a tenant's endpoints. The
-- signing secrets (current, and the previous one during a rotation's overlap) are sealed
-- together like integration credentials; `events` is a JSON array of event types.
CREATE TABLE webhook_endpoints (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  sealed_secrets TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
