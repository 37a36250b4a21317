import type Database from 'better-sqlite3';
import { storedDigestKey } from '../../policy/digest.ts';
import type { PersonalData } from '../../security/personal-data.ts';
import {
  type LegacyCaptureRow as CaptureRow,
  type LegacyDeviceRow as DeviceRow,
  type LegacyDigestRow as DigestRow,
  HASHED_DIGEST_KEY_GLOB,
  LEGACY_BATCH,
  PLAIN_SQL,
  type Rekey,
  resealDevice,
  resealSubscriber,
  type LegacySubscriberRow as SubscriberRow,
} from '../legacy-personal.ts';

/**
 * Store.sealLegacyPersonalData on SQLite: pages through the rows an earlier version wrote in
 * clear (by primary key, so each page starts where the last ended), one short write transaction
 * per page, yielding between pages.
 */
export function sqliteSealLegacy(db: Database.Database, personal: PersonalData): () => Promise<number> {
  const subscribers = db.prepare(
    `SELECT tenant_id, id, email, phone FROM subscribers
      WHERE (tenant_id, id) > (?, ?) AND (${PLAIN_SQL('email')} OR ${PLAIN_SQL('phone')})
      ORDER BY tenant_id, id LIMIT ${LEGACY_BATCH}`,
  );
  const setSubscriber = db.prepare(
    `UPDATE subscribers SET email = @email, phone = @phone, email_hash = @emailHash, phone_hash = @phoneHash
      WHERE tenant_id = @tenantId AND id = @id AND email IS @oldEmail AND phone IS @oldPhone`,
  );
  const rekeySuppression = db.prepare(
    `UPDATE OR IGNORE suppressions SET address_hash = @to WHERE tenant_id = @tenantId AND channel = @channel AND address_hash = @from`,
  );
  const rekeyBounces = db.prepare(
    `UPDATE OR IGNORE soft_bounces SET address_hash = @to WHERE tenant_id = @tenantId AND channel = @channel AND address_hash = @from`,
  );
  const devices = db.prepare(
    `SELECT tenant_id, subscriber_id, id, platform, token, subscription FROM devices
      WHERE (tenant_id, subscriber_id, id) > (?, ?, ?)
        AND (${PLAIN_SQL('token')} OR (subscription IS NOT NULL AND subscription NOT LIKE '"%'))
      ORDER BY tenant_id, subscriber_id, id LIMIT ${LEGACY_BATCH}`,
  );
  const setDevice = db.prepare(
    `UPDATE devices SET token = @token, subscription = @subscription, address_hash = @addressHash
      WHERE tenant_id = @tenantId AND subscriber_id = @subscriberId AND id = @id AND token = @oldToken`,
  );
  const captures = db.prepare(
    `SELECT tenant_id, id, recipient FROM sandbox_captures
      WHERE (tenant_id, id) > (?, ?) AND ${PLAIN_SQL('recipient')} ORDER BY tenant_id, id LIMIT ${LEGACY_BATCH}`,
  );
  const setCapture = db.prepare(
    'UPDATE sandbox_captures SET recipient = ? WHERE tenant_id = ? AND id = ? AND recipient = ?',
  );

  const subscriberPage = db.transaction((rows: SubscriberRow[]) => {
    for (const row of rows) {
      const sealed = resealSubscriber(personal, row);
      setSubscriber.run({
        ...sealed,
        tenantId: row.tenant_id,
        id: row.id,
        oldEmail: row.email,
        oldPhone: row.phone,
      });
      for (const rekey of sealed.rekeys as Rekey[]) {
        rekeySuppression.run({ ...rekey, tenantId: row.tenant_id });
        rekeyBounces.run({ ...rekey, tenantId: row.tenant_id });
      }
    }
  });
  const devicePage = db.transaction((rows: DeviceRow[]) => {
    for (const row of rows) {
      const sealed = resealDevice(personal, row);
      setDevice.run({
        ...sealed,
        tenantId: row.tenant_id,
        subscriberId: row.subscriber_id,
        id: row.id,
        oldToken: row.token,
      });
    }
  });
  const capturePage = db.transaction((rows: CaptureRow[]) => {
    for (const row of rows)
      setCapture.run(personal.seal(row.recipient), row.tenant_id, row.id, row.recipient);
  });
  const pause = () => new Promise((resolve) => setImmediate(resolve));

  return () => leavingNoTrace(db, sealAll);

  async function sealAll(): Promise<number> {
    let sealed = 0;
    for (let after = ['', '']; ; ) {
      const rows = subscribers.all(...after) as SubscriberRow[];
      if (rows.length === 0) break;
      subscriberPage.immediate(rows);
      sealed += rows.length;
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.id];
      await pause();
    }
    for (let after = ['', '', '']; ; ) {
      const rows = devices.all(...after) as DeviceRow[];
      if (rows.length === 0) break;
      devicePage.immediate(rows);
      sealed += rows.length;
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.subscriber_id, last.id];
      await pause();
    }
    for (let after = ['', '']; ; ) {
      const rows = captures.all(...after) as CaptureRow[];
      if (rows.length === 0) break;
      capturePage.immediate(rows);
      sealed += rows.length;
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.id];
      await pause();
    }
    return sealed;
  }
}

/**
 * Store.rehashLegacyDigestKeys on SQLite: a page of digests at a time by primary key; one whose
 * hashed key an open digest holds already is left as it is (UPDATE OR IGNORE: digests_open).
 */
export function sqliteRehashDigestKeys(db: Database.Database, personal: PersonalData): () => Promise<number> {
  const digests = db.prepare(
    `SELECT tenant_id, id, digest_key FROM digests
      WHERE (tenant_id, id) > (?, ?) AND digest_key <> '' AND digest_key NOT GLOB '${HASHED_DIGEST_KEY_GLOB}'
      ORDER BY tenant_id, id LIMIT ${LEGACY_BATCH}`,
  );
  const setKey = db.prepare(
    'UPDATE OR IGNORE digests SET digest_key = ? WHERE tenant_id = ? AND id = ? AND digest_key = ?',
  );
  const page = db.transaction((rows: DigestRow[]) => {
    let changed = 0;
    for (const row of rows)
      changed += setKey.run(
        storedDigestKey(row.digest_key, personal),
        row.tenant_id,
        row.id,
        row.digest_key,
      ).changes;
    return changed;
  });
  return () =>
    leavingNoTrace(db, async () => {
      let rekeyed = 0;
      for (let after = ['', '']; ; ) {
        const rows = digests.all(...after) as DigestRow[];
        if (rows.length === 0) return rekeyed;
        rekeyed += page.immediate(rows);
        const last = rows[rows.length - 1]!;
        after = [last.tenant_id, last.id];
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
}

/**
 * Runs a rewrite of values stored in clear so none outlives its row: the space an old value
 * leaves in its page is zeroed meanwhile (no extra I/O), and the WAL frames that still hold the
 * pages as they were are dropped afterwards, when it rewrote anything.
 */
async function leavingNoTrace(db: Database.Database, rewrite: () => Promise<number>): Promise<number> {
  // Every store connection zeroes freed space already (secure_delete, src/store/sqlite/index.ts).
  const rewritten = await rewrite();
  if (rewritten > 0) db.pragma('wal_checkpoint(TRUNCATE)');
  return rewritten;
}
