import { createHash } from 'node:crypto';
import { addressHash, normaliseAddress } from '../feedback/address.ts';
import { isSealedPersonal, type PersonalData } from '../security/personal-data.ts';
import type { DevicePlatform, WebPushSubscription } from '../shared/model.ts';
import { deviceAddressHash } from './device-address.ts';
import { sealSubscription } from './rows.ts';

/**
 * Rows written before personal data was encrypted (addresses and tokens in clear, suppressions
 * and devices keyed by an unkeyed SHA-256) are sealed and re-keyed once, at start
 * (Store.sealLegacyPersonalData). These are the per-row rewrites both stores apply.
 */

/** Rows rewritten per transaction: short enough that deliveries never wait long for the writer. */
/** The rows a re-seal pass reads, as both stores' queries return them. */
export type LegacySubscriberRow = {
  tenant_id: string;
  id: string;
  email: string | null;
  phone: string | null;
};
export type LegacyDeviceRow = {
  tenant_id: string;
  subscriber_id: string;
  id: string;
  platform: string;
  token: string;
  subscription: string | null;
};
export type LegacyCaptureRow = { tenant_id: string; id: string; recipient: string };
export type LegacyDigestRow = { tenant_id: string; id: string; digest_key: string };

/**
 * A digest key as storedDigestKey stores it: `k:` and 64 lower-case hex digits. Any other non-empty
 * key was stored as rendered by an earlier version. (One stored as `sha256:…`, a render over 200
 * characters, is hashed as it is: that window still closes, and the next event of its key opens a
 * new one.)
 */
export const HASHED_DIGEST_KEY_GLOB = `k:${'[0-9a-f]'.repeat(64)}`;
export const HASHED_DIGEST_KEY_REGEX = '^k:[0-9a-f]{64}$';

export const LEGACY_BATCH = 200;

/** SQL that is true for a stored value written in clear (null and '' are nothing to seal). */
export const PLAIN_SQL = (column: string) =>
  `(${column} IS NOT NULL AND ${column} <> '' AND ${column} NOT LIKE 'pd1.%')`;

/** The unkeyed SHA-256 an earlier version kept suppressions under. */
function legacyAddressHash(channel: 'email' | 'sms', address: string): string {
  return createHash('sha256').update(normaliseAddress(channel, address)).digest('hex');
}

/** A suppression (and its soft bounces) to move from the old key to the new one. */
export interface Rekey {
  channel: 'email' | 'sms';
  from: string;
  to: string;
}

export interface LegacySubscriber {
  email: string | null;
  phone: string | null;
}

export function resealSubscriber(
  personal: PersonalData,
  row: LegacySubscriber,
): {
  email: string | null;
  phone: string | null;
  emailHash: string | null;
  phoneHash: string | null;
  rekeys: Rekey[];
} {
  const rekeys: Rekey[] = [];
  const one = (channel: 'email' | 'sms', stored: string | null) => {
    if (stored === null || stored === '') return { sealed: stored, hash: null };
    const plain = personal.open(stored);
    const hash = addressHash(personal, channel, plain);
    if (!isSealedPersonal(stored))
      rekeys.push({ channel, from: legacyAddressHash(channel, plain), to: hash });
    return { sealed: isSealedPersonal(stored) ? stored : personal.seal(plain), hash };
  };
  const email = one('email', row.email);
  const phone = one('sms', row.phone);
  return { email: email.sealed, phone: phone.sealed, emailHash: email.hash, phoneHash: phone.hash, rekeys };
}

export interface LegacyDevice {
  platform: string;
  token: string;
  /** JSON text: the subscription object in clear, or a JSON string holding the sealed one. */
  subscription: string | null;
}

export function resealDevice(
  personal: PersonalData,
  row: LegacyDevice,
): { token: string; subscription: string | null; addressHash: string } {
  const token = row.token === '' ? '' : personal.open(row.token);
  const parsed = row.subscription === null ? null : (JSON.parse(row.subscription) as unknown);
  const subscription: WebPushSubscription | null =
    typeof parsed === 'string' ? JSON.parse(personal.open(parsed)) : (parsed as WebPushSubscription | null);
  return {
    token: token === '' ? '' : personal.seal(token),
    subscription: sealSubscription(subscription, personal),
    addressHash: deviceAddressHash(personal, {
      platform: row.platform as DevicePlatform,
      token,
      subscription,
    }),
  };
}
