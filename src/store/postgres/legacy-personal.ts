import type pg from 'pg';
import { storedDigestKey } from '../../policy/digest.ts';
import type { PersonalData } from '../../security/personal-data.ts';
import {
  type LegacyCaptureRow as CaptureRow,
  type LegacyDeviceRow as DeviceRow,
  type LegacyDigestRow as DigestRow,
  HASHED_DIGEST_KEY_REGEX,
  LEGACY_BATCH,
  PLAIN_SQL,
  resealDevice,
  resealSubscriber,
  type LegacySubscriberRow as SubscriberRow,
} from '../legacy-personal.ts';
import { run, transaction } from './client.ts';

// A rekey never lands on a key that already exists (a suppression recorded under the new key wins).
const REKEY_SUPPRESSIONS = `UPDATE suppressions AS s SET address_hash = $4
  WHERE tenant_id = $1 AND channel = $2 AND address_hash = $3
    AND NOT EXISTS (SELECT 1 FROM suppressions o WHERE o.tenant_id = $1 AND o.channel = $2 AND o.address_hash = $4)`;
const REKEY_BOUNCES = `UPDATE soft_bounces AS s SET address_hash = $4
  WHERE tenant_id = $1 AND channel = $2 AND address_hash = $3
    AND NOT EXISTS (SELECT 1 FROM soft_bounces o WHERE o.tenant_id = $1 AND o.channel = $2 AND o.address_hash = $4
                      AND o.message_ref = s.message_ref)`;

/**
 * Store.sealLegacyPersonalData on PostgreSQL: pages through the rows an earlier version wrote in
 * clear by primary key, one short transaction per page. Each update repeats the old value, so a
 * row another process changed meanwhile is left as that process wrote it.
 */
export function postgresSealLegacy(pool: pg.Pool, personal: PersonalData): () => Promise<number> {
  return async () => {
    let sealed = 0;
    for (let after = ['', '']; ; ) {
      const { rows } = await run<SubscriberRow>(
        pool,
        `SELECT tenant_id, id, email, phone FROM subscribers
          WHERE (tenant_id, id) > ($1, $2) AND (${PLAIN_SQL('email')} OR ${PLAIN_SQL('phone')})
          ORDER BY tenant_id, id LIMIT ${LEGACY_BATCH}`,
        after,
      );
      if (rows.length === 0) break;
      await transaction(pool, async (client) => {
        for (const row of rows) {
          const next = resealSubscriber(personal, row);
          await client.query(
            `UPDATE subscribers SET email = $3, phone = $4, email_hash = $5, phone_hash = $6
              WHERE tenant_id = $1 AND id = $2 AND email IS NOT DISTINCT FROM $7 AND phone IS NOT DISTINCT FROM $8`,
            [
              row.tenant_id,
              row.id,
              next.email,
              next.phone,
              next.emailHash,
              next.phoneHash,
              row.email,
              row.phone,
            ],
          );
          for (const rekey of next.rekeys) {
            const params = [row.tenant_id, rekey.channel, rekey.from, rekey.to];
            await client.query(REKEY_SUPPRESSIONS, params);
            await client.query(REKEY_BOUNCES, params);
          }
        }
      });
      sealed += rows.length;
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.id];
    }
    for (let after = ['', '', '']; ; ) {
      const { rows } = await run<DeviceRow>(
        pool,
        `SELECT tenant_id, subscriber_id, id, platform, token, subscription::TEXT AS subscription FROM devices
          WHERE (tenant_id, subscriber_id, id) > ($1, $2, $3)
            AND (${PLAIN_SQL('token')} OR jsonb_typeof(subscription) = 'object')
          ORDER BY tenant_id, subscriber_id, id LIMIT ${LEGACY_BATCH}`,
        after,
      );
      if (rows.length === 0) break;
      await transaction(pool, async (client) => {
        for (const row of rows) {
          const next = resealDevice(personal, row);
          await client.query(
            `UPDATE devices SET token = $4, subscription = $5::jsonb, address_hash = $6
              WHERE tenant_id = $1 AND subscriber_id = $2 AND id = $3 AND token = $7`,
            [
              row.tenant_id,
              row.subscriber_id,
              row.id,
              next.token,
              next.subscription,
              next.addressHash,
              row.token,
            ],
          );
        }
      });
      sealed += rows.length;
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.subscriber_id, last.id];
    }
    for (let after = ['', '']; ; ) {
      const { rows } = await run<CaptureRow>(
        pool,
        `SELECT tenant_id, id, recipient FROM sandbox_captures
          WHERE (tenant_id, id) > ($1, $2) AND ${PLAIN_SQL('recipient')} ORDER BY tenant_id, id LIMIT ${LEGACY_BATCH}`,
        after,
      );
      if (rows.length === 0) break;
      await transaction(pool, async (client) => {
        for (const row of rows)
          await client.query(
            'UPDATE sandbox_captures SET recipient = $3 WHERE tenant_id = $1 AND id = $2 AND recipient = $4',
            [row.tenant_id, row.id, personal.seal(row.recipient), row.recipient],
          );
      });
      sealed += rows.length;
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.id];
    }
    return sealed;
  };
}

/**
 * Store.rehashLegacyDigestKeys on PostgreSQL: a page of digests at a time by primary key; one
 * whose hashed key an open digest holds already is left as it is (digests_open stays unique).
 */
export function postgresRehashDigestKeys(pool: pg.Pool, personal: PersonalData): () => Promise<number> {
  return async () => {
    let rekeyed = 0;
    for (let after = ['', '']; ; ) {
      const { rows } = await run<DigestRow>(
        pool,
        `SELECT tenant_id, id, digest_key FROM digests
          WHERE (tenant_id, id) > ($1, $2) AND digest_key <> '' AND digest_key !~ '${HASHED_DIGEST_KEY_REGEX}'
          ORDER BY tenant_id, id LIMIT ${LEGACY_BATCH}`,
        after,
      );
      if (rows.length === 0) return rekeyed;
      await transaction(pool, async (client) => {
        for (const row of rows) {
          // A process already running may open a digest under the hashed key meanwhile (NOT
          // EXISTS does not see it): that row's update gives way, as SQLite's OR IGNORE does.
          await client.query('SAVEPOINT rekey');
          try {
            const { rowCount } = await client.query(
              `UPDATE digests AS d SET digest_key = $3 WHERE tenant_id = $1 AND id = $2 AND digest_key = $4
                  AND NOT EXISTS (SELECT 1 FROM digests o WHERE o.tenant_id = d.tenant_id AND o.workflow = d.workflow
                                    AND o.subscriber_id = d.subscriber_id AND o.digest_key = $3 AND NOT o.closed)`,
              [row.tenant_id, row.id, storedDigestKey(row.digest_key, personal), row.digest_key],
            );
            rekeyed += rowCount ?? 0;
            await client.query('RELEASE SAVEPOINT rekey');
          } catch (error) {
            if ((error as { code?: string }).code !== '23505') throw error;
            await client.query('ROLLBACK TO SAVEPOINT rekey');
          }
        }
      });
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.id];
    }
  };
}
