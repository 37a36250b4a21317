import { describe, expect, it } from 'vitest';
import { pageModel, patchFromForm } from '../../../src/preference-page/model.ts';
import type { WorkflowRecord } from '../../../src/shared/model.ts';
import { emptyPreferences } from '../../../src/store/preference-merge.ts';

function workflow(key: string, category: string | undefined, channels: string[]): WorkflowRecord {
  return {
    tenantId: 't',
    key,
    version: 1,
    definition: {
      ...(category ? { category } : {}),
      channels: channels.map((channel) => ({ channel, template: {} })),
    },
  } as unknown as WorkflowRecord;
}

const WORKFLOWS = [
  workflow('news', 'marketing', ['email', 'in_app']),
  workflow('reset', 'security', ['email']),
  workflow('hook', undefined, ['webhook', 'sms']),
];

describe('pageModel', () => {
  it('shows the channels in use (never webhook), categories with their channels, workflows; mandatory ones locked on', () => {
    const choices = {
      ...emptyPreferences(),
      channels: { email: false },
      categories: { marketing: { in_app: false } },
    };
    const model = pageModel(WORKFLOWS, choices, 'Europe/Berlin');
    expect(model.channels).toEqual([
      { channel: 'in_app', name: 'channel:in_app', on: true },
      { channel: 'email', name: 'channel:email', on: false },
      { channel: 'sms', name: 'channel:sms', on: true },
    ]);
    expect(model.categories).toEqual([
      {
        category: 'marketing',
        locked: false,
        cells: [
          // No category choice for email: the channel's off decides.
          { channel: 'in_app', name: 'category:marketing:in_app', on: false },
          { channel: 'email', name: 'category:marketing:email', on: false },
        ],
      },
      {
        category: 'security',
        locked: true,
        cells: [{ channel: 'email', name: 'category:security:email', on: true }],
      },
    ]);
    expect(model.workflows.map((w) => [w.key, w.locked, w.on])).toEqual([
      ['hook', false, true],
      ['news', false, true],
      ['reset', true, true],
    ]);
    expect(model.timezone).toBe('Europe/Berlin');
  });
});

describe('patchFromForm', () => {
  const model = pageModel(WORKFLOWS, emptyPreferences(), 'UTC');
  const form = (entries: string[], extra: Record<string, string> = {}) => {
    const params = new URLSearchParams();
    for (const name of entries) params.append(name, 'on');
    for (const [name, value] of Object.entries(extra)) params.append(name, value);
    return params;
  };
  const ALL_ON = [
    'channel:in_app',
    'channel:email',
    'channel:sms',
    'category:marketing:in_app',
    'category:marketing:email',
    'workflow:hook',
    'workflow:news',
  ];

  it('changes only what differs from the page, never locked rows, ignoring fields it did not show', () => {
    expect(patchFromForm(model, form(ALL_ON, { 'channel:webhook': 'on' }))).toEqual({});
    const patch = patchFromForm(
      model,
      form(ALL_ON.filter((name) => name !== 'category:marketing:email' && name !== 'workflow:news')),
    );
    expect(patch).toEqual({
      categories: { marketing: { email: false } },
      workflows: { news: { enabled: false } },
    });
    // Security unticked (it is not even posted): nothing about it changes.
    expect(patchFromForm(model, form(ALL_ON))).toEqual({});
  });

  it('sets, keeps and clears quiet hours, and names a bad time', () => {
    expect(
      patchFromForm(model, form(ALL_ON, { quiet: 'on', 'quiet-start': '22:00', 'quiet-end': '07:00' })),
    ).toEqual({
      quietHours: { start: '22:00', end: '07:00' },
    });
    const quiet = pageModel(
      WORKFLOWS,
      { ...emptyPreferences(), quietHours: { start: '22:00', end: '07:00' } },
      'UTC',
    );
    expect(
      patchFromForm(quiet, form(ALL_ON, { quiet: 'on', 'quiet-start': '22:00', 'quiet-end': '07:00' })),
    ).toEqual({});
    expect(patchFromForm(quiet, form(ALL_ON))).toEqual({ quietHours: null });
    expect(
      patchFromForm(model, form(ALL_ON, { quiet: 'on', 'quiet-start': '25:00', 'quiet-end': '07:00' })),
    ).toMatchObject({
      field: 'quiet-start',
    });
    expect(
      patchFromForm(model, form(ALL_ON, { quiet: 'on', 'quiet-start': '07:00', 'quiet-end': '07:00' })),
    ).toMatchObject({
      field: 'quiet-end',
    });
  });
});
