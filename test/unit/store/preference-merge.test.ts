import { describe, expect, it } from 'vitest';
import type { PreferenceChoices } from '../../../src/shared/model.ts';
import type { PreferencePatch } from '../../../src/store/port.ts';
import {
  emptyPreferences,
  mergePreferences,
  mergeTenantSettings,
  parsePreferences,
  parseTenantSettings,
} from '../../../src/store/preference-merge.ts';

const stored: PreferenceChoices = {
  channels: { sms: false, email: true },
  categories: { marketing: { email: false }, news: { push: false } },
  workflows: { digest: { enabled: false } },
  quietHours: { start: '22:00', end: '07:00' },
};

describe('mergePreferences', () => {
  it.each<[string, PreferencePatch, PreferenceChoices]>([
    ['an empty patch keeps everything', {}, stored],
    [
      'channels merge key by key; null withdraws one',
      { channels: { email: null, push: false } },
      { ...stored, channels: { sms: false, push: false } },
    ],
    [
      'a category merges channel by channel',
      { categories: { marketing: { sms: false } } },
      { ...stored, categories: { marketing: { email: false, sms: false }, news: { push: false } } },
    ],
    [
      'a category left with no choice is dropped',
      { categories: { news: { push: null } } },
      { ...stored, categories: { marketing: { email: false } } },
    ],
    [
      'null withdraws a whole category',
      { categories: { marketing: null } },
      { ...stored, categories: { news: { push: false } } },
    ],
    [
      'workflows are set or withdrawn',
      { workflows: { digest: null, weekly: { enabled: true } } },
      { ...stored, workflows: { weekly: { enabled: true } } },
    ],
    [
      'quiet hours are replaced',
      { quietHours: { start: '23:30', end: '06:00' } },
      { ...stored, quietHours: { start: '23:30', end: '06:00' } },
    ],
    ['null clears the quiet hours', { quietHours: null }, { ...stored, quietHours: null }],
  ])('%s', (_, patch, expected) => {
    expect(mergePreferences(stored, patch)).toEqual(expected);
  });

  it('starts from no choices when none are stored', () => {
    expect(mergePreferences(null, {})).toEqual(emptyPreferences());
    expect(mergePreferences(null, { channels: { sms: false } })).toEqual({
      ...emptyPreferences(),
      channels: { sms: false },
    });
  });

  it('never changes the stored choices it is given', () => {
    const copy = structuredClone(stored);
    mergePreferences(stored, { channels: { sms: true }, categories: { marketing: null }, quietHours: null });
    expect(stored).toEqual(copy);
  });

  it('keeps __proto__ as a plain key, never as a prototype', () => {
    const patch = JSON.parse(
      '{"categories": {"__proto__": {"email": false}}, "workflows": {"__proto__": {"enabled": false}}}',
    );
    const merged = mergePreferences(null, patch);
    expect(Object.getPrototypeOf(merged.categories)).toBe(Object.prototype);
    expect(Object.entries(merged.categories)).toEqual([['__proto__', { email: false }]]);
    expect(Object.entries(merged.workflows)).toEqual([['__proto__', { enabled: false }]]);
    const again = mergePreferences(parsePreferences(JSON.stringify(merged)), patch);
    expect(Object.entries(again.categories)).toEqual([['__proto__', { email: false }]]);
  });
});

describe('stored JSON', () => {
  it('reads missing keys as no choice', () => {
    expect(parsePreferences('{}')).toEqual(emptyPreferences());
    expect(parsePreferences('{"channels":{"sms":false}}')).toEqual({
      ...emptyPreferences(),
      channels: { sms: false },
    });
  });

  it('reads tenant settings at their defaults until set', () => {
    const utc = { defaultTimezone: 'UTC', dailyCap: null, inboxTabs: {} };
    expect(parseTenantSettings(undefined)).toEqual(utc);
    expect(parseTenantSettings('{}')).toEqual(utc);
    // Settings stored before the daily cap existed read as "no cap".
    expect(parseTenantSettings('{"defaultTimezone":"Asia/Tokyo"}')).toEqual({
      defaultTimezone: 'Asia/Tokyo',
      dailyCap: null,
      inboxTabs: {},
    });
    expect(mergeTenantSettings(utc, { defaultTimezone: 'Asia/Tokyo' })).toEqual({
      defaultTimezone: 'Asia/Tokyo',
      dailyCap: null,
      inboxTabs: {},
    });
    expect(mergeTenantSettings({ defaultTimezone: 'Asia/Tokyo', dailyCap: null, inboxTabs: {} }, {})).toEqual(
      {
        defaultTimezone: 'Asia/Tokyo',
        dailyCap: null,
        inboxTabs: {},
      },
    );
  });

  it('sets, keeps and removes the daily cap', () => {
    const capped = mergeTenantSettings(
      { defaultTimezone: 'UTC', dailyCap: null, inboxTabs: {} },
      { dailyCap: { perSubscriber: 20 } },
    );
    expect(capped).toEqual({ defaultTimezone: 'UTC', dailyCap: { perSubscriber: 20 }, inboxTabs: {} });
    expect(parseTenantSettings(JSON.stringify(capped))).toEqual(capped);
    expect(mergeTenantSettings(capped, { defaultTimezone: 'Asia/Tokyo' }).dailyCap).toEqual({
      perSubscriber: 20,
    });
    expect(mergeTenantSettings(capped, { dailyCap: null }).dailyCap).toBeNull();
  });
});
