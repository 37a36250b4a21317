import type { ResealedCredentials, Store } from '../store/port.ts';
import { PERSONAL_DATA_KEY_SETTING } from './personal-data-key.ts';
import { SealedUnderOtherKey, seal, unsealWithIndex } from './secrets.ts';

/**
 * A value sealed under the master secret, kept in settings: it tells at start whether the secret
 * given is the one the database was used with, even before any credentials are stored (subscriber
 * tokens are signed with a key of the same secret).
 */
export const SECRET_CHECK_SETTING = 'secret_check';
const SECRET_CHECK_VALUE = 'tidings secret check';

/** What start-up found about the sealed values in the store, given a keyring (current key first). */
export interface SealedValuesReport {
  /** Values no key of the keyring opens: tenant/integration ids, or 'the secret check'. */
  unopened: string[];
  /** Credentials sealed under a previous key (or the older key-less format): re-sealed under the current one. */
  reseal: ResealedCredentials[];
  /** The secret check as stored (null: none yet), and its replacement when it needs one. */
  check: { stored: string | null; next: string | null };
  /** The personal data key as stored (null: none yet), and its re-sealed form when a previous key sealed it. */
  personalDataKey: { stored: string | null; next: string | null };
}

type Opened = 'current' | 'previous' | 'unopened';

function opens(keyring: readonly Buffer[], sealed: string): { by: Opened; value: unknown } {
  try {
    const { index, value } = unsealWithIndex(keyring, sealed);
    // A v1 value under the current key is re-sealed too, so every value ends up naming its key.
    return { by: index === 0 && sealed.startsWith('v2.') ? 'current' : 'previous', value };
  } catch (error) {
    // A tag that does not verify under the named key is a value we cannot open, like a foreign key id.
    if (error instanceof SealedUnderOtherKey || (error as Error).message.includes('authenticate'))
      return { by: 'unopened', value: undefined };
    throw error;
  }
}

/** Reads every sealed value and decides, without writing anything, what start-up must do. */
export async function inspectSealedValues(
  store: Store,
  keyring: readonly Buffer[],
): Promise<SealedValuesReport> {
  const current = keyring[0]!;
  const report: SealedValuesReport = {
    unopened: [],
    reseal: [],
    check: { stored: null, next: null },
    personalDataKey: { stored: null, next: null },
  };
  const stored = await store.getSetting(SECRET_CHECK_SETTING);
  report.check.stored = stored;
  if (stored === null) report.check.next = seal(current, SECRET_CHECK_VALUE);
  else {
    const check = opens(keyring, stored);
    if (check.by === 'unopened' || check.value !== SECRET_CHECK_VALUE)
      report.unopened.push('the secret check');
    else if (check.by === 'previous') report.check.next = seal(current, SECRET_CHECK_VALUE);
  }
  const dataKey = await store.getSetting(PERSONAL_DATA_KEY_SETTING);
  report.personalDataKey.stored = dataKey;
  if (dataKey !== null) {
    const opened = opens(keyring, dataKey);
    if (opened.by === 'unopened') report.unopened.push('the personal data key');
    else if (opened.by === 'previous') report.personalDataKey.next = seal(current, opened.value);
  }
  for (const { tenantId, integrationId, sealed } of await store.listSealedCredentials()) {
    const opened = opens(keyring, sealed);
    if (opened.by === 'unopened') report.unopened.push(`integration ${tenantId}/${integrationId}`);
    else if (opened.by === 'previous')
      report.reseal.push({ tenantId, integrationId, from: sealed, to: seal(current, opened.value) });
  }
  return report;
}

/**
 * Writes what {@link inspectSealedValues} decided. Answers false when another process starting at
 * the same moment stored a secret check first that this keyring does not open.
 */
export async function resealValues(
  store: Store,
  keyring: readonly Buffer[],
  report: SealedValuesReport,
): Promise<{ resealed: number; checkHolds: boolean }> {
  const resealed = await store.resealCredentials(report.reseal);
  const dataKey = report.personalDataKey;
  if (dataKey.stored !== null && dataKey.next !== null)
    await store.replaceSetting(PERSONAL_DATA_KEY_SETTING, dataKey.stored, dataKey.next);
  const { stored, next } = report.check;
  if (next === null) return { resealed, checkHolds: true };
  if (stored !== null) {
    await store.replaceSetting(SECRET_CHECK_SETTING, stored, next);
    return { resealed, checkHolds: true };
  }
  const winner = await store.settingOnce(SECRET_CHECK_SETTING, next);
  return { resealed, checkHolds: winner === next || opens(keyring, winner).by !== 'unopened' };
}
