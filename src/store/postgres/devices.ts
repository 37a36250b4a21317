import type pg from 'pg';
import type { PersonalData } from '../../security/personal-data.ts';
import { deviceAddressHash } from '../device-address.ts';
import type { DeviceInput, DeviceStore, DeviceUpsert } from '../port.ts';
import { type DeviceRow, sealSubscription, toDevice } from '../rows.ts';
import { run, transaction } from './client.ts';

// Creates the subscriber if absent, then locks it (a statement of its own: one statement's SELECT
// would not see its own CTE's new row): concurrent PUTs for one subscriber take turns, so the
// device count they check is the one they write into.
const CREATE_SUBSCRIBER = `INSERT INTO subscribers (tenant_id, id, created_at, updated_at) VALUES ($1, $2, $3, $3)
  ON CONFLICT DO NOTHING`;
const LOCK_SUBSCRIBER = 'SELECT 1 FROM subscribers WHERE tenant_id = $1 AND id = $2 FOR UPDATE';

const WRITE = `INSERT INTO devices AS cur (tenant_id, subscriber_id, id, platform, token, subscription, address_hash,
    active, deactivated_at, reason, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, TRUE, NULL, NULL, $8, $8)
  ON CONFLICT (tenant_id, subscriber_id, id) DO UPDATE SET platform = excluded.platform, token = excluded.token,
    subscription = excluded.subscription, address_hash = excluded.address_hash, active = TRUE,
    deactivated_at = NULL, reason = NULL, updated_at = excluded.updated_at
  RETURNING *`;

/**
 * PUTs of one token under different subscribers take turns too (one address, one device: the
 * unique index devices_by_address). Without it each loser of the race ran again after a unique
 * violation, and with six at once one could lose five times and fail.
 */
const LOCK_ADDRESS = 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))';

export function postgresDeviceStore(pool: pg.Pool, personal: PersonalData): DeviceStore {
  const asDevice = (row: DeviceRow) => toDevice(row, personal);
  async function upsertDevice(input: DeviceInput, now: number, limit: number): Promise<DeviceUpsert> {
    const hash = deviceAddressHash(personal, input);
    return transaction(pool, async (client) => {
      await client.query(CREATE_SUBSCRIBER, [input.tenantId, input.subscriberId, now]);
      await client.query(LOCK_SUBSCRIBER, [input.tenantId, input.subscriberId]);
      // Always after the subscriber's lock, so no two PUTs wait on each other's in turn.
      await client.query(LOCK_ADDRESS, [`tidings:device_address:${input.tenantId}:${hash}`]);
      const { rows: counted } = await client.query<{ mine: boolean; others: number }>(
        `SELECT bool_or(id = $3) AS mine, count(*) FILTER (WHERE address_hash <> $4)::INT AS others
           FROM devices WHERE tenant_id = $1 AND subscriber_id = $2`,
        [input.tenantId, input.subscriberId, input.id, hash],
      );
      const { mine, others } = counted[0]!;
      // The device being replaced (same id, or same address) does not count against the limit.
      // Nothing was written yet (a subscriber with `limit` devices existed already): commit is harmless.
      if (mine !== true && others >= limit) return { ok: false, code: 'device_limit', limit };
      // Whoever held this address before: another subscriber's device, or another id of this one's.
      await client.query(
        'DELETE FROM devices WHERE tenant_id = $1 AND address_hash = $2 AND NOT (subscriber_id = $3 AND id = $4)',
        [input.tenantId, hash, input.subscriberId, input.id],
      );
      const { rows } = await client.query<DeviceRow>(WRITE, [
        input.tenantId,
        input.subscriberId,
        input.id,
        input.platform,
        input.token === '' ? '' : personal.seal(input.token),
        sealSubscription(input.subscription ?? null, personal),
        hash,
        now,
      ]);
      return { ok: true, device: asDevice(rows[0]!) };
    });
  }

  return {
    upsertDevice,
    async listDevices(tenantId, subscriberId) {
      const { rows } = await run<DeviceRow>(
        pool,
        'SELECT * FROM devices WHERE tenant_id = $1 AND subscriber_id = $2 ORDER BY created_at, id',
        [tenantId, subscriberId],
      );
      return rows.map(asDevice);
    },
    async getDevice(tenantId, subscriberId, id) {
      const { rows } = await run<DeviceRow>(
        pool,
        'SELECT * FROM devices WHERE tenant_id = $1 AND subscriber_id = $2 AND id = $3',
        [tenantId, subscriberId, id],
      );
      return rows[0] ? asDevice(rows[0]) : null;
    },
    async deleteDevice(tenantId, subscriberId, id) {
      const result = await run(
        pool,
        'DELETE FROM devices WHERE tenant_id = $1 AND subscriber_id = $2 AND id = $3',
        [tenantId, subscriberId, id],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async deactivateDevice(device, reason, at) {
      const result = await run(
        pool,
        `UPDATE devices SET active = FALSE, deactivated_at = $1, reason = $2, updated_at = $1
          WHERE tenant_id = $3 AND subscriber_id = $4 AND id = $5 AND address_hash = $6 AND active`,
        [at, reason, device.tenantId, device.subscriberId, device.id, deviceAddressHash(personal, device)],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async activeDevicesOf(tenantId, subscriberIds, platforms) {
      if (subscriberIds.length === 0 || platforms.length === 0) return [];
      const { rows } = await run<DeviceRow>(
        pool,
        `SELECT * FROM devices WHERE tenant_id = $1 AND subscriber_id = ANY($2::TEXT[]) AND active
           AND platform = ANY($3::TEXT[])
         ORDER BY subscriber_id, created_at, id`,
        [tenantId, subscriberIds, [...platforms]],
      );
      return rows.map(asDevice);
    },
  };
}
