import type { Store } from '../store/port.ts';
import { type DataKey, dataKeyFrom, newDataKey } from './personal-data.ts';
import { seal, unseal } from './secrets.ts';

/**
 * The setting that keeps the installation's personal data key (src/security/personal-data.ts),
 * sealed under the master secret's credentials key like integration credentials: it is re-sealed
 * when TIDINGS_SECRET rotates (src/security/sealed-values.ts), and a database copied without the
 * master secret cannot open it.
 */
export const PERSONAL_DATA_KEY_SETTING = 'personal_data_key';

export function sealDataKey(credentials: Buffer, key: DataKey): string {
  return seal(credentials, { key: key.key.toString('base64') });
}

export function openDataKey(keyring: readonly Buffer[], sealed: string): DataKey {
  const { key } = unseal<{ key: string }>(keyring, sealed);
  return dataKeyFrom(Buffer.from(key, 'base64'));
}

/** Set once every row an earlier version wrote in clear has been sealed (sealLegacyData). */
export const LEGACY_SEALED_SETTING = 'personal_data_sealed';

/**
 * Seals what a version before field encryption stored in clear, once per installation: later
 * starts find the setting and skip the scan. Rows stay readable meanwhile (a value without the
 * sealed prefix is read as it is).
 */
export async function sealLegacyData(store: Store): Promise<number> {
  let sealed = 0;
  if ((await store.getSetting(LEGACY_SEALED_SETTING)) === null) {
    sealed += await store.sealLegacyPersonalData();
    await store.settingOnce(LEGACY_SEALED_SETTING, String(Date.now()));
  }
  // Digest keys came later than the other values: installations sealed before still hold them.
  if ((await store.getSetting(DIGEST_KEYS_HASHED_SETTING)) === null) {
    sealed += await store.rehashLegacyDigestKeys();
    await store.settingOnce(DIGEST_KEYS_HASHED_SETTING, String(Date.now()));
  }
  return sealed;
}

/** Set once every digest key stored as rendered has been hashed (rehashLegacyDigestKeys). */
export const DIGEST_KEYS_HASHED_SETTING = 'digest_keys_hashed';

/**
 * The installation's data key: the stored one, or a new one stored now (the first process to
 * store one wins; the others use it). Called at start, after the master secret is settled.
 */
export async function ensureDataKey(store: Store, keyring: readonly Buffer[]): Promise<DataKey> {
  const stored = await store.getSetting(PERSONAL_DATA_KEY_SETTING);
  if (stored !== null) return openDataKey(keyring, stored);
  const winner = await store.settingOnce(PERSONAL_DATA_KEY_SETTING, sealDataKey(keyring[0]!, newDataKey()));
  return openDataKey(keyring, winner);
}
