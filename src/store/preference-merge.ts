import type { ChannelChoices, PreferenceChoices, QuietHours, TenantSettings } from '../shared/model.ts';
import type { ChannelChoicesPatch, PreferencePatch, QuietHoursPage, TenantSettingsPatch } from './port.ts';

/**
 * How stored preferences and tenant settings are merged and read back, shared by both adapters so
 * they cannot drift apart. Each adapter runs the merge inside one transaction holding the row.
 *
 * Keys are category and workflow names chosen by the caller (`__proto__` included), so objects are
 * only ever built with Object.fromEntries (own data properties) and read through Object.entries:
 * never `object[key] = value`, which for `__proto__` would replace the prototype instead.
 */

export function emptyPreferences(): PreferenceChoices {
  return { channels: {}, categories: {}, workflows: {}, quietHours: null };
}

export const DEFAULT_TENANT_SETTINGS: Readonly<TenantSettings> = Object.freeze({
  defaultTimezone: 'UTC',
  dailyCap: null,
  inboxTabs: Object.freeze({}) as Record<string, string[]>,
});

/** Sets what `patch` names; `null` removes the key. */
function mergeKeyed<T, P>(
  current: Record<string, T>,
  patch: Record<string, P | null> | undefined,
  apply: (existing: T | undefined, value: P) => T | null,
): Record<string, T> {
  if (!patch) return current;
  const merged = new Map(Object.entries(current));
  for (const [key, value] of Object.entries(patch)) {
    const next = value === null ? null : apply(merged.get(key), value);
    if (next === null) merged.delete(key);
    else merged.set(key, next);
  }
  return Object.fromEntries(merged);
}

function mergeChannels(current: ChannelChoices, patch: ChannelChoicesPatch): ChannelChoices {
  return mergeKeyed<boolean, boolean>(current, patch, (_, on) => on);
}

/** The merged choices would hold more categories or workflows than the caller allows. */
export class PreferenceKeysExceeded extends Error {
  override name = 'PreferenceKeysExceeded';
  constructor(
    readonly field: 'categories' | 'workflows',
    readonly count: number,
    readonly max: number,
  ) {
    super(`would hold ${count} ${field} in all; a subscriber's choices hold at most ${max}`);
  }
}

/**
 * The stored choices with `patch` applied, key by key (see PreferencePatch). With `maxKeys`, merged
 * choices holding more categories or workflows than that throw PreferenceKeysExceeded: a patch
 * names at most 100 keys, but patches add up, and a row of 40,000 took every later read and write
 * of it hundreds of milliseconds.
 */
export function mergePreferences(
  current: PreferenceChoices | null,
  patch: PreferencePatch,
  maxKeys?: number,
): PreferenceChoices {
  const merged = mergeAll(current, patch);
  if (maxKeys !== undefined) {
    for (const field of ['categories', 'workflows'] as const) {
      const count = Object.keys(merged[field]).length;
      if (count > maxKeys && count > Object.keys(current?.[field] ?? {}).length)
        throw new PreferenceKeysExceeded(field, count, maxKeys);
    }
  }
  return merged;
}

function mergeAll(current: PreferenceChoices | null, patch: PreferencePatch): PreferenceChoices {
  const base = current ?? emptyPreferences();
  return {
    channels: patch.channels ? mergeChannels(base.channels, patch.channels) : base.channels,
    categories: mergeKeyed<ChannelChoices, ChannelChoicesPatch>(
      base.categories,
      patch.categories,
      (existing, p) => {
        const channels = mergeChannels(existing ?? {}, p);
        // A category with no choice left is no choice at all: not kept as an empty object.
        return Object.keys(channels).length === 0 ? null : channels;
      },
    ),
    workflows: mergeKeyed<{ enabled: boolean }, { enabled: boolean }>(
      base.workflows,
      patch.workflows,
      (_, p) => ({
        enabled: p.enabled,
      }),
    ),
    quietHours:
      patch.quietHours === undefined
        ? base.quietHours
        : patch.quietHours && { start: patch.quietHours.start, end: patch.quietHours.end },
  };
}

/** Stored JSON text → choices; a key a future version might drop is read as "no choice". */
export function parsePreferences(json: string): PreferenceChoices {
  const stored = JSON.parse(json) as Partial<PreferenceChoices>;
  return {
    channels: stored.channels ?? {},
    categories: stored.categories ?? {},
    workflows: stored.workflows ?? {},
    quietHours: stored.quietHours ?? null,
  };
}

/**
 * parsePreferences for a batch of rows: each distinct stored text is parsed once (most subscribers
 * who made choices made the same few), and subscribers with the same text share one answer. The
 * answers are therefore frozen, all the way down: read them, never change them.
 */
export function sharedPreferenceParser(): (json: string) => PreferenceChoices {
  const parsed = new Map<string, PreferenceChoices>();
  return (json) => {
    let choices = parsed.get(json);
    if (!choices) {
      choices = deepFreeze(parsePreferences(json));
      parsed.set(json, choices);
    }
    return choices;
  };
}

/** Freezes `value` and everything in it (a batch's shared answers, see sharedPreferenceParser). */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Sets what `patch` names; `dailyCap: null` removes the cap. */
export function mergeTenantSettings(current: TenantSettings, patch: TenantSettingsPatch): TenantSettings {
  return {
    defaultTimezone: patch.defaultTimezone ?? current.defaultTimezone,
    dailyCap:
      patch.dailyCap === undefined
        ? current.dailyCap
        : patch.dailyCap && { perSubscriber: patch.dailyCap.perSubscriber },
    // Tabs are replaced as a whole: a PATCH names every tab the inbox shows.
    inboxTabs:
      patch.inboxTabs === undefined
        ? current.inboxTabs
        : Object.fromEntries(
            Object.entries(patch.inboxTabs).map(([tab, categories]) => [tab, [...categories]]),
          ),
  };
}

/** Stored JSON text (or no row) → settings, each missing one at its default. */
export function parseTenantSettings(json: string | null | undefined): TenantSettings {
  const stored = json ? (JSON.parse(json) as Partial<TenantSettings>) : {};
  return {
    defaultTimezone: stored.defaultTimezone ?? DEFAULT_TENANT_SETTINGS.defaultTimezone,
    dailyCap: stored.dailyCap ?? null,
    inboxTabs: stored.inboxTabs ?? {},
  };
}

/** A row of a quiet-hours page as both stores read it: the window as JSON text (or null). */
export interface QuietHoursRow {
  subscriber_id: string;
  quiet: string | null;
  timezone: string | null;
}

/** Store.quietHoursPage's answer from the `limit` rows (or fewer, at the end) one page read. */
export function quietHoursPageOf(rows: readonly QuietHoursRow[], limit: number): QuietHoursPage {
  const subscribers: QuietHoursPage['subscribers'] = [];
  for (const row of rows) {
    const window = row.quiet === null ? null : (JSON.parse(row.quiet) as QuietHours | null);
    if (window && typeof window.start === 'string' && typeof window.end === 'string')
      subscribers.push({
        subscriberId: row.subscriber_id,
        quietHours: { start: window.start, end: window.end },
        timezone: row.timezone,
      });
  }
  return { subscribers, next: rows.length < limit ? null : rows.at(-1)!.subscriber_id };
}
