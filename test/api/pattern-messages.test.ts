import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A field outside its pattern is answered in words that say what it accepts, never with the
 * regular expression (src/shared/pattern-messages.ts): one row per kind of patterned field, each
 * through the route a client would call, asserting the field's path and the exact words.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const ID_WORDS = 'must not be "." or "..", nor contain control characters or bidi overrides';
const DURATION_WORDS =
  'must be a duration: a whole number and a unit (ms, s, m, h or d), such as "90s", "10m", "2h" or "1d"';
const WINDOW_WORDS =
  'must be a duration above zero: a whole number and a unit (ms, s, m, h or d), such as "90s", "10m", "2h" or "1d"';
const CLOCK_WORDS = 'must be a time HH:MM (24 h), from 00:00 to 23:59';

const inApp = { channel: 'in_app', template: { title: 't', body: 'b' } };
/** A workflow body with `change` over one valid in-app step. */
const workflow = (change: Record<string, unknown>) => ({ channels: [inApp], ...change });

type Row = [label: string, method: string, route: string, body: unknown, path: string, message: string];

const ROWS: Row[] = [
  ['an id in a body', 'POST', '/v1/events', { workflow: 'a\u0007b', to: ['u'] }, 'workflow', ID_WORDS],
  ['an id in a list', 'POST', '/v1/events', { workflow: 'w', to: ['u', 'x\u2066y'] }, 'to[1]', ID_WORDS],
  ['an id in a query', 'GET', '/v1/messages?subscriberId=a%7Fb', undefined, 'subscriberId', ID_WORDS],
  ['a topic key in the path', 'PUT', '/v1/topics/a%1Bb', { name: 'T' }, 'key', ID_WORDS],
  [
    'a topic named by an event',
    'POST',
    '/v1/events',
    { workflow: 'w', to: [{ topic: 'news\u202ex' }] },
    'to[0].topic',
    ID_WORDS,
  ],
  [
    'an idempotency key',
    'POST',
    '/v1/events',
    { workflow: 'w', to: ['u'], idempotencyKey: 'order\u202e42' },
    'idempotencyKey',
    'must not contain control characters or bidi overrides',
  ],
  [
    'a phone number',
    'PUT',
    '/v1/subscribers/ada',
    { phone: '555-0100' },
    'phone',
    'must be a phone number in E.164 form: "+", then the country code and number, 7–15 digits in all, e.g. "+14155550123"',
  ],
  [
    'a workflow key (a record key)',
    'PATCH',
    '/v1/subscribers/ada/preferences',
    { workflows: { 'weekly\u0007digest': { enabled: false } } },
    'workflows.weekly\u0007digest',
    'is not a valid key: must be 1–100 characters, not "." or "..", without control characters or bidi overrides',
  ],
  [
    'a category name (a record key) too long',
    'PATCH',
    '/v1/subscribers/ada/preferences',
    { categories: { ['c'.repeat(65)]: null } },
    `categories.${'c'.repeat(65)}`,
    'is not a valid key: must be 1–64 characters without control characters or bidi overrides',
  ],
  [
    'a category name (a record key) with a control character',
    'PATCH',
    '/v1/subscribers/ada/preferences',
    { categories: { 'so\u0007cial': null } },
    'categories.so\u0007cial',
    'is not a valid key: must be 1–64 characters without control characters or bidi overrides',
  ],
  [
    'a clock time',
    'PATCH',
    '/v1/subscribers/ada/preferences',
    { quietHours: { start: '22:00', end: '7am' } },
    'quietHours.end',
    CLOCK_WORDS,
  ],
  [
    'a local time of a schedule',
    'POST',
    '/v1/events',
    { workflow: 'w', to: ['u'], schedule: { localTime: '24:00' } },
    'schedule.localTime',
    CLOCK_WORDS,
  ],
  [
    'a duration of a schedule',
    'POST',
    '/v1/events',
    { workflow: 'w', to: ['u'], schedule: { localTime: '09:00', spreadOver: '1 hour' } },
    'schedule.spreadOver',
    DURATION_WORDS,
  ],
  [
    'a fallback duration',
    'PUT',
    '/v1/workflows/w',
    { channels: [{ ...inApp, fallback: { after: '10min', unless: 'read' } }] },
    'channels[0].fallback.after',
    DURATION_WORDS,
  ],
  [
    'a rate limit window',
    'PUT',
    '/v1/workflows/w',
    workflow({ rateLimit: [{ per: 'subscriber', limit: 1, window: '0h' }] }),
    'rateLimit[0].window',
    WINDOW_WORDS,
  ],
  [
    'a digest window',
    'PUT',
    '/v1/workflows/w',
    workflow({ digest: { window: '-5m' } }),
    'digest.window',
    WINDOW_WORDS,
  ],
  [
    'a token lifetime',
    'POST',
    '/v1/subscribers/ada/token',
    { expiresIn: '15 minutes' },
    'expiresIn',
    'must be a duration: a whole number and a unit (s, m, h or d), such as "15m", "1h" or "7d"',
  ],
  [
    'a template variable name (a record key)',
    'PUT',
    '/v1/workflows/w',
    { channels: [{ channel: 'in_app', template: { title: 't', 'sub-title': 's' } }] },
    'channels[0].template.sub-title',
    "is not a valid key: must be a letter (A–Z, a–z) followed by letters, digits or '_'",
  ],
  [
    'a variant name',
    'PUT',
    '/v1/workflows/w',
    {
      channels: [
        {
          channel: 'in_app',
          variants: [
            { name: 'plan A', weight: 1, template: { title: 'a' } },
            { name: 'b', weight: 1, template: { title: 'b' } },
          ],
        },
      ],
    },
    'channels[0].variants[0].name',
    "must be 1–40 characters: letters (A–Z, a–z), digits, '_' or '-'",
  ],
  [
    'an inbox tab name (a record key)',
    'PATCH',
    '/v1/settings',
    { inboxTabs: { '.hidden': ['social'] } },
    'inboxTabs..hidden',
    "is not a valid key: must be 1–64 characters: letters (A–Z, a–z), digits, '_', '.' or '-', the first a letter or digit",
  ],
];

describe('a value outside its pattern is answered in words', () => {
  it.each(ROWS)('%s: %s %s', async (_label, method, route, body, path, message) => {
    const answer = await server.call(method, route, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('validation_failed');
    expect(answer.body.error.details).toContainEqual({ path, message });
    for (const detail of answer.body.error.details) expect(detail.message).not.toMatch(/pattern|\^|\$"/);
  });

  it("holds for a provider's config too (422 naming the field)", async () => {
    const answer = await server.call('PUT', '/v1/integrations/hook', {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: 'ftp://example.com/hook' },
      credentials: { secret: 's'.repeat(32) },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error.details).toEqual([
      { path: 'config.url', message: 'must be an http:// or https:// URL' },
    ]);
  });

  it('leaves an empty id to its length rule: one message, not two', async () => {
    const answer = await server.call('POST', '/v1/events', { workflow: 'w', to: [{ topic: '' }] });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([
      { path: 'to[0].topic', message: 'must not have fewer than 1 characters' },
    ]);
  });
});

const EMAIL_WORDS = 'must be an email address such as ada@example.com';
const DATE_TIME_WORDS =
  'must be a date and time in RFC 3339 form, with seconds and a time zone, e.g. 2026-12-06T09:00:00Z or 2026-12-06T10:00:00+01:00';
const TIME_ZONE_WORDS = 'must be an IANA time zone such as Europe/Berlin';
const LANGUAGE_TAG_WORDS = 'must be a language tag such as en or pt-BR';

type FormatRow = [label: string, method: string, route: string, body: unknown, path: string, message: string];

/** Each format the schemas use, through more than one route where several use it: the words are the format's. */
const FORMAT_ROWS: FormatRow[] = [
  ["a subscriber's email", 'PUT', '/v1/subscribers/ada', { email: 'ada@localhost' }, 'email', EMAIL_WORDS],
  [
    'an inline recipient email',
    'POST',
    '/v1/events',
    { workflow: 'w', to: [{ subscriberId: 'u', email: '"a\r\nBcc: x"@example.com' }] },
    'to[0].email',
    EMAIL_WORDS,
  ],
  [
    "an event's sendAt without a zone",
    'POST',
    '/v1/events',
    { workflow: 'w', to: ['u'], sendAt: '2026-12-06T09:00' },
    'sendAt',
    DATE_TIME_WORDS,
  ],
  [
    "a subscriber's time zone",
    'PUT',
    '/v1/subscribers/ada',
    { timezone: 'Mars/Olympus' },
    'timezone',
    TIME_ZONE_WORDS,
  ],
  [
    "a tenant's default time zone",
    'PATCH',
    '/v1/settings',
    { defaultTimezone: 'CEST+1' },
    'defaultTimezone',
    TIME_ZONE_WORDS,
  ],
  ["a subscriber's locale", 'PUT', '/v1/subscribers/ada', { locale: 'en_US' }, 'locale', LANGUAGE_TAG_WORDS],
  [
    "a workflow's default locale",
    'PUT',
    '/v1/workflows/w',
    workflow({ defaultLocale: 'en_GB' }),
    'defaultLocale',
    LANGUAGE_TAG_WORDS,
  ],
  [
    "an event's locale",
    'POST',
    '/v1/events',
    { workflow: 'w', to: ['u'], locale: 'pt BR' },
    'locale',
    LANGUAGE_TAG_WORDS,
  ],
];

describe('a value outside its format is answered in words', () => {
  it.each(FORMAT_ROWS)('%s: %s %s', async (_label, method, route, body, path, message) => {
    const answer = await server.call(method, route, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ path, message }]);
  });

  it("holds for a subscriber's own route too: a snooze's until", async () => {
    const { token } = (await server.call('POST', '/v1/subscribers/ada/token')).body;
    const answer = await server.call(
      'POST',
      '/v1/inbox/item_1/snooze',
      { until: '2026-12-06 09:00' },
      { auth: token },
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ path: 'until', message: DATE_TIME_WORDS }]);
  });

  it('still takes values of each format', async () => {
    const subscriber = await server.call('PUT', '/v1/subscribers/formats', {
      email: 'ada@example.com',
      timezone: 'Europe/Berlin',
      locale: 'pt-BR',
    });
    expect(subscriber.status, JSON.stringify(subscriber.body)).toBe(200);
    const saved = await server.call('PUT', '/v1/workflows/formats', workflow({ defaultLocale: 'de-CH' }));
    expect(saved.status, JSON.stringify(saved.body)).toBe(200);
    const event = await server.call('POST', '/v1/events', {
      workflow: 'formats',
      to: ['formats'],
      sendAt: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, '+00:00'),
      locale: 'en',
    });
    expect(event.status, JSON.stringify(event.body)).toBe(202);
  });
});
