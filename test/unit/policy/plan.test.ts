import { describe, expect, it } from 'vitest';
import { type Plan, type PlanInput, plan } from '../../../src/policy/plan.ts';
import { CHANNELS, type Channel, type PreferenceChoices } from '../../../src/shared/model.ts';

// Tokyo is UTC+9 all year: 15:00Z is midnight there, 03:00Z noon.
const TOKYO_MIDNIGHT = Date.parse('2026-12-01T15:00:00Z');
const TOKYO_NOON = Date.parse('2026-12-01T03:00:00Z');
const QUIET = { start: '22:00', end: '07:00' };
const TOKYO_QUIET_UNTIL = '2026-12-01T22:00:00.000Z';

interface Case {
  channel?: Channel;
  lane?: PlanInput['lane'];
  workflow?: Partial<PlanInput['workflow']>;
  subscriber?: Partial<PlanInput['subscriber']>;
  preferences?: Partial<PreferenceChoices> | null;
  defaultTimezone?: string;
  now?: number;
}

/** A marketing email to a reachable Tokyo subscriber with no choices, at noon, unless the case says otherwise. */
function input(change: Case): PlanInput {
  return {
    channel: change.channel ?? 'email',
    lane: change.lane ?? 'normal',
    workflow: {
      key: 'weekly-digest',
      category: 'marketing',
      quietHours: 'respect',
      defaultPreferences: null,
      ...change.workflow,
    },
    subscriber: {
      email: 'ada@example.com',
      phone: '+15550100',
      timezone: 'Asia/Tokyo',
      ...change.subscriber,
    },
    preferences:
      change.preferences == null
        ? null
        : { channels: {}, categories: {}, workflows: {}, quietHours: null, ...change.preferences },
    defaultTimezone: change.defaultTimezone ?? 'UTC',
    now: change.now ?? TOKYO_NOON,
  };
}

const SEND: Plan = { kind: 'send' };
const noAddress = (detail: string): Plan => ({ kind: 'suppress', reason: 'no_address', detail });
const optedOut = (detail: string): Plan => ({ kind: 'suppress', reason: 'opted_out', detail });
const deferred = (zone: string, until: string): Plan => ({
  kind: 'defer',
  until: Date.parse(until),
  detail: `quiet hours in ${zone} until ${until}`,
});

const check = (cases: [string, Case, Plan][]) =>
  it.each(cases)('%s', (_name, change, expected) => {
    expect(plan(input(change))).toEqual(expected);
  });

describe('plan a: reachability', () => {
  check([
    ['email without an address', { subscriber: { email: null } }, noAddress('no email address')],
    ['email with an empty address', { subscriber: { email: '' } }, noAddress('no email address')],
    ['sms without a phone', { channel: 'sms', subscriber: { phone: null } }, noAddress('no phone number')],
    ['sms with a phone', { channel: 'sms', subscriber: { email: null } }, SEND],
    [
      'push needs no email or phone here',
      { channel: 'push', subscriber: { email: null, phone: null } },
      SEND,
    ],
    ['in_app needs no address', { channel: 'in_app', subscriber: { email: null, phone: null } }, SEND],
    ['webhook needs no address', { channel: 'webhook', subscriber: { email: null, phone: null } }, SEND],
    [
      'no address wins over an opt-out',
      { subscriber: { email: null }, preferences: { channels: { email: false } } },
      noAddress('no email address'),
    ],
    [
      'no address holds for mandatory categories too',
      { subscriber: { email: null }, workflow: { category: 'security' } },
      noAddress('no email address'),
    ],
    [
      'no address wins over quiet hours',
      {
        channel: 'sms',
        subscriber: { phone: null },
        preferences: { quietHours: QUIET },
        now: TOKYO_MIDNIGHT,
      },
      noAddress('no phone number'),
    ],
  ]);
});

describe('plan b: consent', () => {
  check([
    ['no choices and no defaults: send', { preferences: null }, SEND],
    ['empty choices: send', { preferences: {} }, SEND],
    [
      'category × channel off',
      { preferences: { categories: { marketing: { email: false } } } },
      optedOut('subscriber opted out of marketing on email'),
    ],
    ['category off on another channel', { preferences: { categories: { marketing: { sms: false } } } }, SEND],
    ['another category off', { preferences: { categories: { billing: { email: false } } } }, SEND],
    [
      'channel off',
      { preferences: { channels: { email: false } } },
      optedOut('subscriber opted out of email'),
    ],
    ['another channel off', { preferences: { channels: { sms: false } } }, SEND],
    [
      'category × channel on beats channel off (the more specific choice)',
      { preferences: { categories: { marketing: { email: true } }, channels: { email: false } } },
      SEND,
    ],
    [
      'category × channel off beats channel on',
      { preferences: { categories: { marketing: { email: false } }, channels: { email: true } } },
      optedOut('subscriber opted out of marketing on email'),
    ],
    [
      'a workflow without category reads only the channel choice',
      { workflow: { category: null }, preferences: { channels: { email: false } } },
      optedOut('subscriber opted out of email'),
    ],
    [
      'default off and no choice at all',
      { workflow: { defaultPreferences: { channels: { email: false } } } },
      optedOut('email is off by default for workflow weekly-digest until the subscriber opts in'),
    ],
    [
      'default off and choices about other channels',
      {
        workflow: { defaultPreferences: { channels: { email: false } } },
        preferences: { channels: { sms: true } },
      },
      optedOut('email is off by default for workflow weekly-digest until the subscriber opts in'),
    ],
    [
      'default off, subscriber opted in on the channel: their choice wins',
      {
        workflow: { defaultPreferences: { channels: { email: false } } },
        preferences: { channels: { email: true } },
      },
      SEND,
    ],
    [
      'default off, subscriber opted in for the category: their choice wins',
      {
        workflow: { defaultPreferences: { channels: { email: false } } },
        preferences: { categories: { marketing: { email: true } } },
      },
      SEND,
    ],
    [
      'a workflow enabled is not a channel choice: the default still holds',
      {
        workflow: { defaultPreferences: { channels: { email: false } } },
        preferences: { workflows: { 'weekly-digest': { enabled: true } } },
      },
      optedOut('email is off by default for workflow weekly-digest until the subscriber opts in'),
    ],
    ['default on', { workflow: { defaultPreferences: { channels: { email: true } } } }, SEND],
    [
      'default off for another channel',
      { workflow: { defaultPreferences: { channels: { sms: false } } } },
      SEND,
    ],
    ['default with no channels', { workflow: { defaultPreferences: {} } }, SEND],
    [
      'in_app obeys the channel choice',
      { channel: 'in_app', preferences: { channels: { in_app: false } } },
      optedOut('subscriber opted out of in_app'),
    ],
    [
      'in_app obeys the default',
      { channel: 'in_app', workflow: { defaultPreferences: { channels: { in_app: false } } } },
      optedOut('in_app is off by default for workflow weekly-digest until the subscriber opts in'),
    ],
    ['another workflow disabled', { preferences: { workflows: { other: { enabled: false } } } }, SEND],
    [
      'names inherited from Object are never choices',
      { workflow: { key: 'constructor', category: 'constructor' }, preferences: {} },
      SEND,
    ],
    [
      'a disabled workflow beats a channel opt-in',
      { preferences: { workflows: { 'weekly-digest': { enabled: false } }, channels: { email: true } } },
      optedOut('subscriber disabled workflow weekly-digest'),
    ],
  ]);

  it.each(CHANNELS)('a disabled workflow suppresses %s', (channel) => {
    const result = plan(
      input({ channel, preferences: { workflows: { 'weekly-digest': { enabled: false } } } }),
    );
    expect(result).toEqual(optedOut('subscriber disabled workflow weekly-digest'));
  });

  const everyOptOut: Case = {
    workflow: { defaultPreferences: { channels: { email: false, in_app: false } } },
    preferences: {
      workflows: { 'weekly-digest': { enabled: false } },
      categories: { transactional: { email: false }, security: { email: false } },
      channels: { email: false, in_app: false },
    },
  };
  it.each([
    ['transactional', 'email'],
    ['transactional', 'in_app'],
    ['security', 'email'],
    ['security', 'in_app'],
  ] as const)('%s on %s ignores every opt-out and default', (category, channel) => {
    const change = { ...everyOptOut, channel, workflow: { ...everyOptOut.workflow, category } };
    expect(plan(input(change))).toEqual(SEND);
  });
});

describe('plan c: quiet hours', () => {
  const night: Case = { preferences: { quietHours: QUIET }, now: TOKYO_MIDNIGHT };
  check([
    ['inside the window: email deferred to its end', night, deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL)],
    ['outside the window: send', { ...night, now: TOKYO_NOON }, SEND],
    ['no window: send', { preferences: { quietHours: null }, now: TOKYO_MIDNIGHT }, SEND],
    ['a bypass workflow sends now', { ...night, workflow: { quietHours: 'bypass' } }, SEND],
    ['the critical lane sends now', { ...night, lane: 'critical' }, SEND],
    ['the high lane waits', { ...night, lane: 'high' }, deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL)],
    ['the bulk lane waits', { ...night, lane: 'bulk' }, deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL)],
    [
      'mandatory categories still wait (bypass or critical is the way out)',
      { ...night, workflow: { category: 'security' } },
      deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL),
    ],
    [
      'no zone of their own: the tenant default',
      { ...night, subscriber: { timezone: null }, defaultTimezone: 'Asia/Tokyo' },
      deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL),
    ],
    [
      'no zone of their own and the default says it is day there',
      { ...night, subscriber: { timezone: null }, defaultTimezone: 'Europe/Berlin' },
      SEND,
    ],
    [
      'an unknown zone falls back to the tenant default',
      { ...night, subscriber: { timezone: 'Mars/Olympus' }, defaultTimezone: 'Asia/Tokyo' },
      deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL),
    ],
    [
      'an empty zone falls back to the tenant default',
      { ...night, subscriber: { timezone: '' }, defaultTimezone: 'Asia/Tokyo' },
      deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL),
    ],
    [
      'unknown zones everywhere fall back to UTC',
      {
        preferences: { quietHours: QUIET },
        subscriber: { timezone: 'Mars/Olympus' },
        defaultTimezone: 'Venus/Maxwell',
        now: Date.parse('2026-12-01T23:00:00Z'),
      },
      deferred('UTC', '2026-12-02T07:00:00.000Z'),
    ],
    [
      'a malformed stored window never blocks delivery',
      { preferences: { quietHours: { start: '25:00', end: '07:00' } }, now: TOKYO_MIDNIGHT },
      SEND,
    ],
    [
      'opted out and inside quiet hours: suppressed, not deferred',
      { ...night, preferences: { quietHours: QUIET, channels: { email: false } } },
      optedOut('subscriber opted out of email'),
    ],
    [
      'default off and inside quiet hours: suppressed',
      { ...night, workflow: { defaultPreferences: { channels: { email: false } } } },
      optedOut('email is off by default for workflow weekly-digest until the subscriber opts in'),
    ],
    [
      'a Los Angeles window on the fall-back night ends at the later 01:30',
      {
        preferences: { quietHours: { start: '22:00', end: '01:30' } },
        subscriber: { timezone: 'America/Los_Angeles' },
        now: Date.parse('2026-11-01T08:15:00Z'),
      },
      deferred('America/Los_Angeles', '2026-11-01T09:30:00.000Z'),
    ],
  ]);

  it.each([
    ['push', true],
    ['webpush', true],
    ['sms', true],
    ['email', true],
    ['chat', true],
    ['in_app', false],
    ['webhook', false],
  ] as const)('%s waits for quiet hours: %s', (channel, waits) => {
    const result = plan(input({ ...night, channel }));
    expect(result).toEqual(waits ? deferred('Asia/Tokyo', TOKYO_QUIET_UNTIL) : SEND);
  });
});

describe('plan d: send', () => {
  it('answers send without allocating: the same frozen object every time', () => {
    const first = plan(input({}));
    expect(first).toEqual(SEND);
    expect(plan(input({ channel: 'push' }))).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });
});
