-- A counter per tenant that every change to what decides consent moves: preferences,
-- suppressions, tenant settings, and a workflow's definition, version or pause (not its render
-- timeout count). A send reads it before its batch's consent reads and again after its `sending`
-- record commits (src/pipeline/send.ts): unchanged, the batch's reads still hold and are not made
-- again; changed, the send reads consent again before calling its provider. `choices` counts the
-- preference changes alone: a delivery's write of in-app items checks it (src/store/consent-guard.ts),
-- as nothing else decides an in-app item (a pause has its own check). Kept by triggers so that no
-- write path can forget them. No row: both 0.
CREATE TABLE consent_versions (
  tenant_id TEXT PRIMARY KEY,
  version   INTEGER NOT NULL,
  choices   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER preferences_inserted_consent AFTER INSERT ON preferences BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1, choices = choices + 1;
END;
CREATE TRIGGER preferences_updated_consent AFTER UPDATE ON preferences BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1, choices = choices + 1;
END;
CREATE TRIGGER preferences_deleted_consent AFTER DELETE ON preferences BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (OLD.tenant_id, 1, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1, choices = choices + 1;
END;

CREATE TRIGGER suppressions_inserted_consent AFTER INSERT ON suppressions BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER suppressions_updated_consent AFTER UPDATE ON suppressions BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER suppressions_deleted_consent AFTER DELETE ON suppressions BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (OLD.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER tenant_settings_inserted_consent AFTER INSERT ON tenant_settings BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER tenant_settings_updated_consent AFTER UPDATE ON tenant_settings BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER tenant_settings_deleted_consent AFTER DELETE ON tenant_settings BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (OLD.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER workflows_inserted_consent AFTER INSERT ON workflows BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
-- A render timeout count also writes paused_reason (to itself, until the count pauses): no change.
CREATE TRIGGER workflows_updated_consent AFTER UPDATE OF definition, version, paused_reason ON workflows
WHEN OLD.definition IS NOT NEW.definition OR OLD.version IS NOT NEW.version
  OR OLD.paused_reason IS NOT NEW.paused_reason
BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (NEW.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER workflows_deleted_consent AFTER DELETE ON workflows BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (OLD.tenant_id, 1, 0)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
