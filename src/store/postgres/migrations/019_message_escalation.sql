-- A message whose fallback step went out (API.md "Workflows"): `escalated: true` (src/pipeline/fallback.ts).
ALTER TABLE messages ADD COLUMN escalated BOOLEAN NOT NULL DEFAULT false;
