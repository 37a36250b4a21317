import type { ConsentSource, PreferenceChoices } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import { TimeSlices } from '../shared/time-slices.ts';
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

/**
 * Entries read per query when a whole log is listed or exported. A page is read and parsed in one
 * block: an entry holds a change of up to a few hundred preference keys (tens of KB), so 100.
 */
export const CONSENT_PAGE = 100;

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

/**
 * A whole consent log as the elements of a JSON array (`{…}`, `,{…}`…), an entry at a time, giving
 * the event loop back every few milliseconds (`slices`): a socket that takes all it is given (a
 * reader on the same host) never makes a stream wait, so without it the whole log was produced in
 * one block — 3,000 entries of 100 categories, 25 MB, held every other caller 0.25–0.4 s.
 */
export async function* consentLogJson(
  store: Pick<Store, 'listConsentLog'>,
  tenantId: string,
  subscriberId: string,
  slices = new TimeSlices(),
): AsyncGenerator<string> {
  let first = true;
  for await (const entry of consentLog(store, tenantId, subscriberId)) {
    await slices.yieldIfDue();
    yield (first ? '' : ',') + JSON.stringify(consentView(entry));
    first = false;
  }
}

/** `{"items": [...], "nextCursor": null}` of a whole consent log, produced an entry at a time. */
export async function* consentLogDocument(
  store: Pick<Store, 'listConsentLog'>,
  tenantId: string,
  subscriberId: string,
): AsyncGenerator<string> {
  yield '{"items":[';
  yield* consentLogJson(store, tenantId, subscriberId);
  yield '],"nextCursor":null}';
}
