import { canonicalJson } from '../ingest/canonical.ts';
import { idFloor } from '../shared/ids.ts';
import type { Channel, ConsentSource, PreferenceChoices, SuppressionReason } from '../shared/model.ts';
import type { ConsentRecord, ExpiringTable, PreferencePatch } from './port.ts';

/** The consent log's `change` for a preference PATCH: what it asked for, as applied. */
export function preferenceChange(patch: PreferencePatch): Record<string, unknown> {
  return { preferences: patch };
}

/** The consent log's `change` for an address suppressed (or lifted) on a channel. */
export function suppressionChange(
  channel: Channel,
  reason: SuppressionReason,
  lifted: boolean,
): Record<string, unknown> {
  return { [lifted ? 'unsuppressed' : 'suppressed']: { channel, reason } };
}

/** Whether a PATCH changed the stored choices (only changes are logged: a callback retried logs once). */
export function choicesChanged(before: PreferenceChoices | null, after: PreferenceChoices): boolean {
  return before === null || canonicalJson(before) !== canonicalJson(after);
}

export interface ConsentRow {
  id: number | string;
  at: number | string;
  change: string | Record<string, unknown>;
  source: string;
  detail: string | null;
}

export function toConsent(row: ConsentRow): ConsentRecord {
  return {
    id: Number(row.id),
    at: Number(row.at),
    change: typeof row.change === 'string' ? JSON.parse(row.change) : row.change,
    source: row.source as ConsentSource,
    detail: row.detail,
  };
}

/** The timeline entry erasure appends to each message it erases. */
export function erasedEntry(now: number): { at: string; status: string } {
  return { at: new Date(now).toISOString(), status: 'erased' };
}

/**
 * Each expiring table: the id column the sweep ranges over (after the tenant), that id's prefix,
 * and the rest of the primary key that names one row.
 */
export const EXPIRING: Readonly<Record<ExpiringTable, { idColumn: string; prefix: string; key: string }>> = {
  events: { idColumn: 'id', prefix: 'evt', key: 'id' },
  messages: { idColumn: 'id', prefix: 'msg', key: 'id' },
  sandbox_captures: { idColumn: 'id', prefix: 'cap', key: 'id' },
  skipped_steps: { idColumn: 'event_id', prefix: 'evt', key: 'event_id, subscriber_id, step' },
};

/** The id below which a table's rows were created before `before`. */
export function expiryFloor(table: ExpiringTable, before: number): string {
  return idFloor(EXPIRING[table].prefix, before);
}

/**
 * An event payload with what it held of an erased subscriber taken out: their entries in `to`
 * become the bare erased id (no address, locale, zone or data), and when nobody else was in `to`,
 * the event `data` (all about them) is emptied too. Answers null when the payload named them not.
 */
export function scrubEventPayload(
  payload: unknown,
  subscriberId: string,
  erasedId: string,
): Record<string, unknown> | null {
  if (!payload || typeof payload !== 'object' || !Array.isArray((payload as { to?: unknown }).to))
    return null;
  const event = payload as Record<string, unknown> & { to: unknown[] };
  let found = false;
  const to = event.to.map((entry) => {
    const id = typeof entry === 'string' ? entry : (entry as { subscriberId?: unknown } | null)?.subscriberId;
    if (id !== subscriberId) return entry;
    found = true;
    return { subscriberId: erasedId };
  });
  if (!found) return null;
  const alone = to.every((entry) => (entry as { subscriberId?: unknown })?.subscriberId === erasedId);
  return { ...event, to, ...(alone && event.data !== undefined ? { data: {} } : {}) };
}
