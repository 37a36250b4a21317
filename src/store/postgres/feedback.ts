import type pg from 'pg';
import { addressHash } from '../../feedback/address.ts';
import type { PersonalData } from '../../security/personal-data.ts';
import type { Channel, SuppressionReason, SuppressionRecord } from '../../shared/model.ts';
import { suppressionChange } from '../personal-data.ts';
import type { AddressConsent, FeedbackStore } from '../port.ts';
import { type IntegrationRow, type MessageRow, toIntegration, toMessage } from '../rows.ts';
import { run, transaction } from './client.ts';
import { appendConsent } from './personal-data.ts';

interface SuppressionRow {
  tenant_id: string;
  channel: string;
  address_hash: string;
  reason: string;
  detail: string;
  created_at: string | number;
}

function toSuppression(row: SuppressionRow): SuppressionRecord {
  return {
    tenantId: row.tenant_id,
    channel: row.channel as Channel,
    addressHash: row.address_hash,
    reason: row.reason as SuppressionReason,
    detail: row.detail,
    createdAt: Number(row.created_at),
  };
}

/** Provider callbacks: statuses after the send, suppressed addresses, soft bounce counts (src/feedback). */
export function postgresFeedbackStore(pool: pg.Pool, personal: PersonalData): FeedbackStore {
  // The address change and its consent log entries commit together.
  const logged = (
    sql: string,
    values: unknown[],
    entry: {
      tenantId: string;
      channel: Channel;
      reason: SuppressionReason;
      lifted: boolean;
      /** When it happened: a suppression's own time, so the STOP's log entries agree. */
      at: number;
    },
    note: AddressConsent | undefined,
  ): Promise<boolean> => {
    if (!note) return run(pool, sql, values).then(({ rowCount }) => (rowCount ?? 0) > 0);
    return transaction(pool, async (client) => {
      const { rowCount } = await client.query(sql, values);
      if ((rowCount ?? 0) === 0) return false;
      for (const subscriberId of new Set(note.subscriberIds)) {
        await appendConsent(client, {
          tenantId: entry.tenantId,
          subscriberId,
          at: entry.at,
          change: suppressionChange(entry.channel, entry.reason, entry.lifted),
          source: note.source,
          detail: note.detail,
        });
      }
      return true;
    });
  };
  return {
    async integrationsWithId(id) {
      const { rows } = await run<IntegrationRow>(
        pool,
        'SELECT * FROM integrations WHERE id = $1 ORDER BY tenant_id',
        [id],
      );
      return rows.map(toIntegration);
    },
    async messageByProviderId(tenantId, channel, providerMessageId) {
      // The index holds email and SMS messages only (migration 043): its condition is repeated here.
      const { rows } = await run<MessageRow>(
        pool,
        `SELECT * FROM messages
          WHERE tenant_id = $1 AND provider_message_id = $2 AND channel IN ('email', 'sms') AND channel = $3
          ORDER BY id LIMIT 1`,
        [tenantId, providerMessageId, channel],
      );
      return rows[0] ? toMessage(rows[0]) : null;
    },
    async applyFeedback(tenantId, messageId, feedback) {
      // One statement: the status test and the change are atomic under the row lock the UPDATE takes.
      const { rowCount } = await run(
        pool,
        `UPDATE messages SET status = COALESCE($3::TEXT, status), updated_at = $4,
           reason = CASE WHEN $5::BOOLEAN THEN $6::TEXT ELSE reason END,
           last_error = CASE WHEN $7::BOOLEAN THEN $8::TEXT ELSE last_error END,
           timeline = timeline || jsonb_build_array($9::jsonb)
         WHERE tenant_id = $1 AND id = $2 AND status = ANY($10::TEXT[])`,
        [
          tenantId,
          messageId,
          feedback.status,
          feedback.now,
          feedback.reason !== undefined,
          feedback.reason ?? null,
          feedback.lastError !== undefined,
          feedback.lastError ?? null,
          JSON.stringify(feedback.entry),
          feedback.from,
        ],
      );
      return (rowCount ?? 0) > 0;
    },
    async suppressAddress(entry, note) {
      return logged(
        `INSERT INTO suppressions (tenant_id, channel, address_hash, reason, detail, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [entry.tenantId, entry.channel, entry.addressHash, entry.reason, entry.detail, entry.createdAt],
        { ...entry, lifted: false, at: entry.createdAt },
        note,
      );
    },
    async liftSuppression(tenantId, channel, addressHash, reason, note) {
      return logged(
        'DELETE FROM suppressions WHERE tenant_id = $1 AND address_hash = $2 AND channel = $3 AND reason = $4',
        [tenantId, addressHash, channel, reason],
        { tenantId, channel, reason, lifted: true, at: Date.now() },
        note,
      );
    },
    async suppressionsAmong(tenantId, addressHashes) {
      if (addressHashes.length === 0) return [];
      const { rows } = await run<SuppressionRow>(
        pool,
        'SELECT * FROM suppressions WHERE tenant_id = $1 AND address_hash = ANY($2::TEXT[])',
        [tenantId, addressHashes],
      );
      return rows.map(toSuppression);
    },
    async countSoftBounce(tenantId, channel, addressHash, ref, at, since) {
      return transaction(pool, async (client) => {
        await client.query(
          `INSERT INTO soft_bounces (tenant_id, channel, address_hash, message_ref, at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING`,
          [tenantId, channel, addressHash, ref, at],
        );
        await client.query(
          'DELETE FROM soft_bounces WHERE tenant_id = $1 AND address_hash = $2 AND channel = $3 AND at < $4',
          [tenantId, addressHash, channel, since],
        );
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(*)::INT AS n FROM soft_bounces WHERE tenant_id = $1 AND address_hash = $2 AND channel = $3',
          [tenantId, addressHash, channel],
        );
        return rows[0]!.n;
      });
    },
    async subscribersWithPhone(tenantId, phone) {
      const { rows } = await run<{ id: string }>(
        pool,
        'SELECT id FROM subscribers WHERE tenant_id = $1 AND phone_hash = $2 ORDER BY id',
        [tenantId, addressHash(personal, 'sms', phone)],
      );
      return rows.map((row) => row.id);
    },
    async reportApplied(tenantId, key) {
      const { rows } = await run(pool, 'SELECT 1 FROM provider_reports WHERE tenant_id = $1 AND key = $2', [
        tenantId,
        key,
      ]);
      return rows.length > 0;
    },
    async recordReport(tenantId, key, now) {
      await run(
        pool,
        'INSERT INTO provider_reports (tenant_id, key, applied_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [tenantId, key, now],
      );
    },
  };
}
