-- Keys get a public id (`key_…`), so operators can list and revoke them without the secret.
-- Keys made before this get a random one.
ALTER TABLE api_keys ADD COLUMN id TEXT;
UPDATE api_keys SET id = 'key_' || lower(hex(randomblob(13)));
CREATE UNIQUE INDEX api_keys_by_id ON api_keys(id);
