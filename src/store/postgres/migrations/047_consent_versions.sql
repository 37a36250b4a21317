-- A counter per tenant that every change to what decides consent moves: preferences,
-- suppressions, tenant settings, and a workflow's definition, version or pause (not its render
-- timeout count). A send reads it before its batch's consent reads and again after its `sending`
-- record commits (src/pipeline/send.ts): unchanged, the batch's reads still hold and are not made
-- again; changed, the send reads consent again before calling its provider. `choices` counts the
-- preference changes alone: a delivery's write of in-app items checks it (src/store/consent-guard.ts),
-- as nothing else decides an in-app item (a pause has its own check). Kept by triggers so that no
-- write path can forget them. No row: both 0. The triggers are deferred to the commit:
-- the row is locked last, only while the change commits, so a transaction that writes several
-- consent rows never waits for one of them holding it (no deadlock with a concurrent PATCH).
CREATE TABLE consent_versions (
  tenant_id TEXT COLLATE "C" PRIMARY KEY,
  version   BIGINT NOT NULL,
  choices   BIGINT NOT NULL
);

CREATE FUNCTION tidings_consent_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_tenant TEXT := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
  v_choices BIGINT := CASE WHEN TG_TABLE_NAME = 'preferences' THEN 1 ELSE 0 END;
BEGIN
  INSERT INTO consent_versions (tenant_id, version, choices) VALUES (v_tenant, 1, v_choices)
    ON CONFLICT (tenant_id) DO UPDATE
      SET version = consent_versions.version + 1, choices = consent_versions.choices + v_choices;
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER preferences_consent AFTER INSERT OR UPDATE OR DELETE ON preferences
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tidings_consent_changed();
CREATE CONSTRAINT TRIGGER suppressions_consent AFTER INSERT OR UPDATE OR DELETE ON suppressions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tidings_consent_changed();
CREATE CONSTRAINT TRIGGER tenant_settings_consent AFTER INSERT OR UPDATE OR DELETE ON tenant_settings
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tidings_consent_changed();
CREATE CONSTRAINT TRIGGER workflows_consent AFTER INSERT OR DELETE ON workflows
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tidings_consent_changed();
-- A render timeout count also writes paused_reason (to itself, until the count pauses): no change.
CREATE CONSTRAINT TRIGGER workflows_updated_consent AFTER UPDATE OF definition, version, paused_reason ON workflows
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.definition IS DISTINCT FROM NEW.definition OR OLD.version IS DISTINCT FROM NEW.version
    OR OLD.paused_reason IS DISTINCT FROM NEW.paused_reason)
  EXECUTE FUNCTION tidings_consent_changed();
