-- An installation from before the demo workflow was seeded only once (src/cli/bootstrap.ts) has
-- been seeded already: a demo its user deleted must not come back with this upgrade.
INSERT INTO settings (key, value)
  SELECT 'demo_workflow_seeded', 'before-033' WHERE EXISTS (SELECT 1 FROM tenants)
  ON CONFLICT DO NOTHING;
