import type Database from 'better-sqlite3';
import { addressHash } from '../../feedback/address.ts';
import type { PersonalData } from '../../security/personal-data.ts';
import type { Channel, SuppressionReason, SuppressionRecord } from '../../shared/model.ts';
import { suppressionChange } from '../personal-data.ts';
import type { AddressConsent, FeedbackStore } from '../port.ts';
import { type IntegrationRow, type MessageRow, toIntegration, toMessage } from '../rows.ts';
import type { ConsentStatements } from './personal-data.ts';

interface SuppressionRow {
  tenant_id: string;
  channel: string;
  address_hash: string;
  reason: string;
  detail: string;
  created_at: number;
}

function toSuppression(row: SuppressionRow): SuppressionRecord {
  return {
    tenantId: row.tenant_id,
    channel: row.channel as Channel,
    addressHash: row.address_hash,
    reason: row.reason as SuppressionReason,
    detail: row.detail,
    createdAt: row.created_at,
  };
}

/** Provider callbacks: statuses after the send, suppressed addresses, soft bounce counts (src/feedback). */
export function sqliteFeedbackStore(
  db: Database.Database,
  consent: ConsentStatements,
  personal: PersonalData,
): FeedbackStore {
  const integrations = db.prepare('SELECT * FROM integrations WHERE id = ? ORDER BY tenant_id');
  // The index holds email and SMS messages only (migration 043): its condition is repeated here.
  const byProviderId = db.prepare(
    `SELECT * FROM messages INDEXED BY messages_by_provider_id
     WHERE tenant_id = ? AND provider_message_id = ? AND channel IN ('email', 'sms') AND channel = ?
     ORDER BY id LIMIT 1`,
  );
  const status = db.prepare('SELECT status FROM messages WHERE tenant_id = ? AND id = ?').pluck();
  const change = db.prepare(
    `UPDATE messages SET status = COALESCE(@status, status), updated_at = @now,
       reason = CASE WHEN @setReason THEN @reason ELSE reason END,
       last_error = CASE WHEN @setError THEN @lastError ELSE last_error END,
       timeline = json_insert(timeline, '$[#]', json(@entry))
     WHERE tenant_id = @tenantId AND id = @id`,
  );
  const suppress = db.prepare(
    `INSERT INTO suppressions (tenant_id, channel, address_hash, reason, detail, created_at)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const lift = db.prepare(
    'DELETE FROM suppressions WHERE tenant_id = ? AND address_hash = ? AND channel = ? AND reason = ?',
  );
  const reportSeen = db.prepare('SELECT 1 FROM provider_reports WHERE tenant_id = ? AND key = ?');
  const recordReport = db.prepare(
    'INSERT INTO provider_reports (tenant_id, key, applied_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const among = db.prepare(
    'SELECT * FROM suppressions WHERE tenant_id = ? AND address_hash IN (SELECT value FROM json_each(?))',
  );
  const addBounce = db.prepare(
    `INSERT INTO soft_bounces (tenant_id, channel, address_hash, message_ref, at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const pruneBounces = db.prepare(
    'DELETE FROM soft_bounces WHERE tenant_id = ? AND address_hash = ? AND channel = ? AND at < ?',
  );
  const countBounces = db
    .prepare('SELECT COUNT(*) FROM soft_bounces WHERE tenant_id = ? AND address_hash = ? AND channel = ?')
    .pluck();
  const withPhone = db
    .prepare(
      'SELECT id FROM subscribers INDEXED BY subscribers_by_phone WHERE tenant_id = ? AND phone_hash = ? ORDER BY id',
    )
    .pluck();

  const applyFeedback = db.transaction(
    (tenantId: string, id: string, feedback: Parameters<FeedbackStore['applyFeedback']>[2]) => {
      const current = status.get(tenantId, id) as string | undefined;
      if (current === undefined || !(feedback.from as readonly string[]).includes(current)) return false;
      change.run({
        tenantId,
        id,
        status: feedback.status,
        now: feedback.now,
        setReason: feedback.reason === undefined ? 0 : 1,
        reason: feedback.reason ?? null,
        setError: feedback.lastError === undefined ? 0 : 1,
        lastError: feedback.lastError ?? null,
        entry: JSON.stringify(feedback.entry),
      });
      return true;
    },
  );
  const countSoftBounce = db.transaction(
    (tenantId: string, channel: Channel, hash: string, ref: string, at: number, since: number) => {
      addBounce.run(tenantId, channel, hash, ref, at);
      pruneBounces.run(tenantId, hash, channel, since);
      return countBounces.get(tenantId, hash, channel) as number;
    },
  );

  // The address change and its consent log entries commit together.
  const logged = (
    change: () => boolean,
    tenantId: string,
    channel: Channel,
    reason: SuppressionReason,
    lifted: boolean,
    note: AddressConsent | undefined,
    /** When it happened: a suppression's own time, so the STOP's log entries agree. */
    at: number,
  ): boolean => {
    if (!note) return change();
    return db
      .transaction(() => {
        if (!change()) return false;
        for (const subscriberId of new Set(note.subscriberIds)) {
          consent.append({
            tenantId,
            subscriberId,
            at,
            change: suppressionChange(channel, reason, lifted),
            source: note.source,
            detail: note.detail,
          });
        }
        return true;
      })
      .immediate();
  };

  return {
    async integrationsWithId(id) {
      return (integrations.all(id) as IntegrationRow[]).map(toIntegration);
    },
    async messageByProviderId(tenantId, channel, providerMessageId) {
      const row = byProviderId.get(tenantId, providerMessageId, channel) as MessageRow | undefined;
      return row ? toMessage(row) : null;
    },
    async applyFeedback(tenantId, messageId, feedback) {
      return applyFeedback.immediate(tenantId, messageId, feedback);
    },
    async suppressAddress(entry, note) {
      const { tenantId, channel, addressHash, reason, detail, createdAt } = entry;
      return logged(
        () => suppress.run(tenantId, channel, addressHash, reason, detail, createdAt).changes > 0,
        tenantId,
        channel,
        reason,
        false,
        note,
        createdAt,
      );
    },
    async liftSuppression(tenantId, channel, addressHash, reason, note) {
      return logged(
        () => lift.run(tenantId, addressHash, channel, reason).changes > 0,
        tenantId,
        channel,
        reason,
        true,
        note,
        Date.now(),
      );
    },
    async suppressionsAmong(tenantId, addressHashes) {
      if (addressHashes.length === 0) return [];
      return (among.all(tenantId, JSON.stringify(addressHashes)) as SuppressionRow[]).map(toSuppression);
    },
    async countSoftBounce(tenantId, channel, addressHash, ref, at, since) {
      return countSoftBounce.immediate(tenantId, channel, addressHash, ref, at, since);
    },
    async subscribersWithPhone(tenantId, phone) {
      return withPhone.all(tenantId, addressHash(personal, 'sms', phone)) as string[];
    },
    async reportApplied(tenantId, key) {
      return reportSeen.get(tenantId, key) !== undefined;
    },
    async recordReport(tenantId, key, now) {
      recordReport.run(tenantId, key, now);
    },
  };
}
