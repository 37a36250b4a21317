-- Keys get a public id (`key_…`), so operators can list and revoke them without the secret.
-- Keys made before this get a random one.
ALTER TABLE api_keys ADD COLUMN id TEXT COLLATE "C";
UPDATE api_keys SET id = 'key_' || substr(md5(random()::TEXT || key_hash), 1, 26);
ALTER TABLE api_keys ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX api_keys_by_id ON api_keys(id);
