-- Personal data at rest (API.md "Personal data"; src/security/personal-data.ts): email and phone
-- are stored sealed, each with a keyed hash (HMAC) of the normalised address beside it. The phone
-- hash answers an inbound STOP; both are the keys suppressions are stored under, so a delivery
-- reads suppressions without opening any address. Rows written before keep NULL hashes until
-- start-up seals them (src/security/personal-data-key.ts).
ALTER TABLE subscribers ADD COLUMN email_hash TEXT;
ALTER TABLE subscribers ADD COLUMN phone_hash TEXT;
DROP INDEX subscribers_by_phone;
CREATE INDEX subscribers_by_phone ON subscribers(tenant_id, phone_hash) WHERE phone_hash IS NOT NULL;
