import type Database from 'better-sqlite3';
import type { PersonalData } from '../../security/personal-data.ts';
import { deviceAddressHash } from '../device-address.ts';
import type { DeviceInput, DeviceStore, DeviceUpsert } from '../port.ts';
import { type DeviceRow, sealSubscription, toDevice } from '../rows.ts';
import type { SubscriberStatements } from './subscribers.ts';

export function sqliteDeviceStore(
  db: Database.Database,
  subscribers: SubscriberStatements,
  personal: PersonalData,
): DeviceStore {
  const asDevice = (row: DeviceRow) => toDevice(row, personal);
  const get = db.prepare('SELECT * FROM devices WHERE tenant_id = ? AND subscriber_id = ? AND id = ?');
  const list = db.prepare(
    'SELECT * FROM devices WHERE tenant_id = ? AND subscriber_id = ? ORDER BY created_at, id',
  );
  // The subscriber's devices but the one holding this address (which the PUT replaces).
  const countOthers = db
    .prepare('SELECT COUNT(*) FROM devices WHERE tenant_id = ? AND subscriber_id = ? AND address_hash <> ?')
    .pluck();
  // Whoever held this token before (another subscriber's device, or another id of this one's).
  const removeHolder = db.prepare(
    'DELETE FROM devices WHERE tenant_id = ? AND address_hash = ? AND NOT (subscriber_id = ? AND id = ?)',
  );
  const write = db.prepare(
    `INSERT INTO devices (tenant_id, subscriber_id, id, platform, token, subscription, address_hash, active,
       deactivated_at, reason, created_at, updated_at)
     VALUES (@tenantId, @subscriberId, @id, @platform, @token, @subscription, @hash, 1, NULL, NULL, @now, @now)
     ON CONFLICT (tenant_id, subscriber_id, id) DO UPDATE SET platform = excluded.platform, token = excluded.token,
       subscription = excluded.subscription, address_hash = excluded.address_hash, active = 1,
       deactivated_at = NULL, reason = NULL, updated_at = excluded.updated_at
     RETURNING *`,
  );
  const remove = db.prepare('DELETE FROM devices WHERE tenant_id = ? AND subscriber_id = ? AND id = ?');
  const deactivate = db.prepare(
    `UPDATE devices SET active = 0, deactivated_at = ?, reason = ?, updated_at = ?
     WHERE tenant_id = ? AND subscriber_id = ? AND id = ? AND address_hash = ? AND active = 1`,
  );
  // The platforms are a filter on rows the ids found: a correlated EXISTS, not a second IN, which
  // built an ephemeral table and a bloom filter per read (as in messages.ts ONLY_FROM).
  const activeOf = db.prepare(
    `SELECT * FROM devices WHERE tenant_id = ? AND active = 1
       AND subscriber_id IN (SELECT value FROM json_each(?))
       AND EXISTS (SELECT 1 FROM json_each(?) WHERE value = platform)
     ORDER BY subscriber_id, created_at, id`,
  );

  const upsert = db.transaction((input: DeviceInput, now: number, limit: number): DeviceUpsert => {
    const hash = deviceAddressHash(personal, input);
    const isNew = get.get(input.tenantId, input.subscriberId, input.id) === undefined;
    if (isNew && (countOthers.get(input.tenantId, input.subscriberId, hash) as number) >= limit)
      return { ok: false, code: 'device_limit', limit };
    subscribers.createEmpty(input.tenantId, input.subscriberId, now);
    removeHolder.run(input.tenantId, hash, input.subscriberId, input.id);
    const row = write.get({
      tenantId: input.tenantId,
      subscriberId: input.subscriberId,
      id: input.id,
      platform: input.platform,
      token: input.token === '' ? '' : personal.seal(input.token),
      subscription: sealSubscription(input.subscription ?? null, personal),
      hash,
      now,
    }) as DeviceRow;
    return { ok: true, device: asDevice(row) };
  });

  return {
    async upsertDevice(input, now, limit) {
      return upsert.immediate(input, now, limit);
    },
    async listDevices(tenantId, subscriberId) {
      return (list.all(tenantId, subscriberId) as DeviceRow[]).map(asDevice);
    },
    async getDevice(tenantId, subscriberId, id) {
      const row = get.get(tenantId, subscriberId, id) as DeviceRow | undefined;
      return row ? asDevice(row) : null;
    },
    async deleteDevice(tenantId, subscriberId, id) {
      return remove.run(tenantId, subscriberId, id).changes > 0;
    },
    async deactivateDevice(device, reason, at) {
      const hash = deviceAddressHash(personal, device);
      return (
        deactivate.run(at, reason, at, device.tenantId, device.subscriberId, device.id, hash).changes > 0
      );
    },
    async activeDevicesOf(tenantId, subscriberIds, platforms) {
      if (subscriberIds.length === 0 || platforms.length === 0) return [];
      const rows = activeOf.all(tenantId, JSON.stringify(subscriberIds), JSON.stringify(platforms));
      return (rows as DeviceRow[]).map(asDevice);
    },
  };
}
