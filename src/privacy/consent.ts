import type { ConsentSource, PreferenceChoices } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { ConsentRecord, PreferencePatch, Store } from '../store/port.ts';

/** A change of preferences as someone asked for it: where it came from, and a word on how. */
export interface PreferenceChangeRequest {
  tenantId: string;
  subscriberId: string;
  patch: PreferencePatch;
  now: number;
  source: ConsentSource;
  /** Shown in the consent log (`detail`); no address or other personal data. */
  detail: string | null;
  /** Most categories and workflows the merged choices may hold (Store.patchPreferences); opt-outs give none. */
  maxKeys?: number;
}

/**
 * Changes a subscriber's preferences and appends the change to their consent log in the same
 * transaction (only when the stored choices changed: a repeated request logs once). Every writer
 * of preferences goes through here: the API (`api`), the hosted preference page
 * (`preference_page`), one-click unsubscribe links (`unsubscribe_link`), SMS STOP (`sms_stop`) and
 * complaints (`complaint`). An unknown subscriber id is created empty, as PATCH does.
 */
export function changePreferences(
  store: Pick<Store, 'patchPreferences'>,
  request: PreferenceChangeRequest,
): Promise<PreferenceChoices> {
  const { tenantId, subscriberId, patch, now, source, detail, maxKeys } = request;
  return store.patchPreferences(tenantId, subscriberId, patch, now, { source, detail }, maxKeys);
}

/** A consent log entry on the wire (API.md `{"at", "change", "source", "detail"}`). */
export function consentView(entry: ConsentRecord) {
  return { at: iso(entry.at), change: entry.change, source: entry.source, detail: entry.detail };
}

/** Entries read per query when a whole log is listed or exported. */
export const CONSENT_PAGE = 500;

/** A subscriber's whole consent log, oldest first, read a page at a time. */
export async function* consentLog(
  store: Pick<Store, 'listConsentLog'>,
  tenantId: string,
  subscriberId: string,
): AsyncGenerator<ConsentRecord> {
  let after = 0;
  for (;;) {
    const page = await store.listConsentLog(tenantId, subscriberId, after, CONSENT_PAGE);
    yield* page;
    if (page.length < CONSENT_PAGE) return;
    after = page.at(-1)!.id;
  }
}
