import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
const OTHER_KEY = 'tdk_prefs_other_tenant_key_00000';
const asOther = { auth: OTHER_KEY };
const EMPTY = { channels: {}, categories: {}, workflows: {}, quietHours: null };

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('ten_prefs_other', 'Other');
  await addTenantKey(server.tidings.store, 'ten_prefs_other', OTHER_KEY, 'default');
  for (const [key, category] of [
    ['password-reset', 'transactional'],
    ['login-alert', 'security'],
    ['weekly-digest', 'marketing'],
  ]) {
    const put = await server.call('PUT', `/v1/workflows/${key}`, {
      category,
      channels: [{ channel: 'email', template: { subject: 's', html: '<p>b</p>' } }],
    });
    expect(put.status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

const preferencesOf = (id: string, options?: { auth: string }) =>
  server.call('GET', `/v1/subscribers/${id}/preferences`, undefined, options);
const patch = (id: string, body: unknown, options?: { auth: string }) =>
  server.call('PATCH', `/v1/subscribers/${id}/preferences`, body, options);

describe('subscriber preferences', () => {
  it('answers empty choices for a subscriber who made none, and 404 for an unknown one', async () => {
    expect((await server.call('PUT', '/v1/subscribers/ada', { email: 'ada@example.com' })).status).toBe(200);
    const read = await preferencesOf('ada');
    expect(read.status).toBe(200);
    expect(read.body).toEqual(EMPTY);
    const unknown = await preferencesOf('nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
  });

  it('merges each PATCH into the stored choices and answers the result', async () => {
    const first = await patch('grace', {
      channels: { sms: false },
      categories: { marketing: { email: false } },
      workflows: { 'weekly-digest': { enabled: false } },
      quietHours: { start: '22:00', end: '07:00' },
    });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      channels: { sms: false },
      categories: { marketing: { email: false } },
      workflows: { 'weekly-digest': { enabled: false } },
      quietHours: { start: '22:00', end: '07:00' },
    });
    const second = await patch('grace', {
      channels: { push: false },
      categories: { marketing: { sms: false }, security: { email: true } },
      workflows: { 'weekly-digest': null },
      quietHours: null,
    });
    const merged = {
      channels: { sms: false, push: false },
      categories: { marketing: { email: false, sms: false }, security: { email: true } },
      workflows: {},
      quietHours: null,
    };
    expect(second.status).toBe(200);
    expect(second.body).toEqual(merged);
    expect((await preferencesOf('grace')).body).toEqual(merged);
    // An empty PATCH changes nothing and answers the choices as they stand.
    expect((await patch('grace', undefined)).body).toEqual(merged);
  });

  it('creates an unknown subscriber empty with their first choices, as a token does', async () => {
    const created = await patch('newcomer', { channels: { email: false } });
    expect(created.status).toBe(200);
    const subscriber = await server.call('GET', '/v1/subscribers/newcomer');
    expect(subscriber.status).toBe(200);
    expect(subscriber.body).toMatchObject({ subscriberId: 'newcomer', email: null });
  });

  it('keeps every one of concurrent PATCHes of different keys', async () => {
    const channels = ['email', 'sms', 'push', 'webpush', 'chat', 'webhook'];
    const answers = await Promise.all(
      channels.map((channel) => patch('racer', { channels: { [channel]: false } })),
    );
    expect(answers.map((a) => a.status)).toEqual(channels.map(() => 200));
    expect((await preferencesOf('racer')).body.channels).toEqual(
      Object.fromEntries(channels.map((channel) => [channel, false])),
    );
  });

  it('holds at most 1,000 categories through PATCHes that add up: the next is 422 naming categories, nothing changed', async () => {
    const hundred = (page: number) =>
      Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`cat_${page}_${i}`, { email: false }]));
    for (let page = 0; page < 10; page++)
      expect((await patch('hoarder', { categories: hundred(page) })).status).toBe(200);
    const over = await patch('hoarder', { categories: hundred(10), channels: { sms: false } });
    expect(over.status).toBe(422);
    expect(over.body.error.details).toEqual([
      {
        path: 'categories',
        message:
          "would hold 1100 categories in all; a subscriber's choices hold at most 1000; nothing was changed",
      },
    ]);
    const stored = (await preferencesOf('hoarder')).body;
    expect(Object.keys(stored.categories)).toHaveLength(1000);
    expect(stored.channels).toEqual({});
  });
});

describe('mandatory categories', () => {
  it('refuses opting out of transactional or security with 403, writing nothing', async () => {
    await patch('linus', { channels: { sms: false } });
    for (const category of ['security', 'transactional']) {
      const refused = await patch('linus', {
        channels: { email: false },
        categories: { marketing: { email: false }, [category]: { email: true, push: false } },
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
      expect(refused.body.error.message).toMatch(/cannot be opted out of/);
      expect(refused.body.error.details).toEqual([
        { path: `categories.${category}.push`, message: `the ${category} category cannot be opted out of` },
      ]);
    }
    expect((await preferencesOf('linus')).body).toEqual({ ...EMPTY, channels: { sms: false } });
  });

  it('refuses disabling a workflow of a mandatory category with 403, writing nothing', async () => {
    await patch('margaret', { quietHours: { start: '23:00', end: '06:00' } });
    for (const key of ['password-reset', 'login-alert']) {
      const refused = await patch('margaret', {
        workflows: { 'weekly-digest': { enabled: false }, [key]: { enabled: false } },
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
      expect(refused.body.error.message).toMatch(/cannot be opted out of/);
      expect(refused.body.error.details).toEqual([
        { path: `workflows.${key}.enabled`, message: expect.stringMatching(/cannot be opted out of/) },
      ]);
    }
    expect((await preferencesOf('margaret')).body).toEqual({
      ...EMPTY,
      quietHours: { start: '23:00', end: '06:00' },
    });
    // Keeping such a workflow on, or withdrawing the choice, is no opt-out.
    const allowed = await patch('margaret', {
      workflows: { 'login-alert': { enabled: true }, 'password-reset': null },
    });
    expect(allowed.status).toBe(200);
    expect(allowed.body.workflows).toEqual({ 'login-alert': { enabled: true } });
  });

  it('creates no subscriber when the PATCH that would have is refused', async () => {
    expect((await patch('ghost', { categories: { security: { sms: false } } })).status).toBe(403);
    expect((await server.call('GET', '/v1/subscribers/ghost')).status).toBe(404);
  });
});

describe('bad preference input', () => {
  it.each([
    [{ channels: { fax: false } }, 'channels.fax'],
    [{ channels: { sms: 'no' } }, 'channels.sms'],
    [{ categories: { marketing: { pigeon: false } } }, 'categories.marketing.pigeon'],
    [{ categories: { ['x'.repeat(65)]: { email: false } } }, `categories.${'x'.repeat(65)}`],
    [{ workflows: { 'weekly-digest': { enabled: 'no' } } }, 'workflows.weekly-digest.enabled'],
    [{ workflows: { 'weekly-digest': { on: false } } }, 'workflows.weekly-digest.enabled'],
    [{ quietHours: { start: '24:00', end: '07:00' } }, 'quietHours.start'],
    [{ quietHours: { start: '22:00', end: '7:00' } }, 'quietHours.end'],
    [{ quietHours: { start: '22:00' } }, 'quietHours.end'],
    [{ quietHours: { start: '22:00', end: '22:00' } }, 'quietHours.end'],
    [{ quietHours: 'bypass' }, 'quietHours'],
    [{ channel: { sms: false } }, 'channel'],
  ])('answers 400 naming the field for %j, writing nothing', async (body, path) => {
    const refused = await patch('hedy', { channels: { sms: false }, ...body });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('validation_failed');
    expect(refused.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect((await server.call('GET', '/v1/subscribers/hedy')).status).toBe(404);
  });

  it('answers 400 for more than 100 categories in one PATCH', async () => {
    const categories = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`c${i}`, { email: false }]));
    const refused = await patch('hedy', { categories });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details[0].path).toBe('categories');
  });
});

describe('tenant settings', () => {
  it('round-trips the default time zone', async () => {
    const before = await server.call('GET', '/v1/settings');
    expect(before.status).toBe(200);
    expect(before.body).toEqual({ defaultTimezone: 'UTC', dailyCap: null, inboxTabs: {} });
    const patched = await server.call('PATCH', '/v1/settings', { defaultTimezone: 'Asia/Tokyo' });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ defaultTimezone: 'Asia/Tokyo', dailyCap: null, inboxTabs: {} });
    expect((await server.call('GET', '/v1/settings')).body).toEqual({
      defaultTimezone: 'Asia/Tokyo',
      dailyCap: null,
      inboxTabs: {},
    });
    // The other tenant's settings are its own.
    expect((await server.call('GET', '/v1/settings', undefined, asOther)).body).toEqual({
      defaultTimezone: 'UTC',
      dailyCap: null,
      inboxTabs: {},
    });
  });

  it('answers 400 naming a zone that is not an IANA name, changing nothing', async () => {
    await server.call('PATCH', '/v1/settings', { defaultTimezone: 'Europe/Berlin' });
    for (const body of [{ defaultTimezone: 'Mars/Olympus' }, { defaultTimezone: 42 }, { timezone: 'UTC' }]) {
      const refused = await server.call('PATCH', '/v1/settings', body);
      expect(refused.status).toBe(400);
      expect(refused.body.error.details[0].path).toBe(Object.keys(body)[0]);
    }
    expect((await server.call('GET', '/v1/settings')).body).toEqual({
      defaultTimezone: 'Europe/Berlin',
      dailyCap: null,
      inboxTabs: {},
    });
  });

  it('sets inbox tabs (replaced as a whole) and answers 400 naming a bad one, changing nothing', async () => {
    const set = await server.call('PATCH', '/v1/settings', { inboxTabs: { social: ['social'] } });
    expect(set.status).toBe(200);
    expect(set.body.inboxTabs).toEqual({ social: ['social'] });
    for (const inboxTabs of [{ social: [] }, { social: 'social' }, { 'bad name': ['x'] }]) {
      const refused = await server.call('PATCH', '/v1/settings', { inboxTabs });
      expect(refused.status).toBe(400);
      expect(refused.body.error.details[0].path).toMatch(/^inboxTabs/);
    }
    const replaced = await server.call('PATCH', '/v1/settings', {
      inboxTabs: { money: ['billing', 'invoices'] },
    });
    expect(replaced.body.inboxTabs).toEqual({ money: ['billing', 'invoices'] });
    await server.call('PATCH', '/v1/settings', { inboxTabs: {} });
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another tenant's subscriber, and a PATCH there touches only the caller's own", async () => {
    await patch('shared-id', { channels: { email: false } });
    expect((await preferencesOf('shared-id', asOther)).status).toBe(404);
    const theirs = await patch('shared-id', { channels: { sms: false } }, asOther);
    expect(theirs.status).toBe(200);
    expect(theirs.body.channels).toEqual({ sms: false });
    expect((await preferencesOf('shared-id')).body.channels).toEqual({ email: false });
    expect((await preferencesOf('shared-id', asOther)).body.channels).toEqual({ sms: false });
  });

  it('documents the routes in /openapi.json', async () => {
    const openapi = await server.call('GET', '/openapi.json', undefined, { auth: null });
    const paths = openapi.body.paths;
    expect(Object.keys(paths['/v1/subscribers/{subscriberId}/preferences']).sort()).toEqual(['get', 'patch']);
    expect(Object.keys(paths['/v1/settings']).sort()).toEqual(['get', 'patch']);
    const body = paths['/v1/settings'].patch.requestBody.content['application/json'].schema;
    expect(body.properties.defaultTimezone.format).toBe('iana-time-zone');
  });

  it('requires the server key', async () => {
    expect(
      (await server.call('GET', '/v1/subscribers/ada/preferences', undefined, { auth: null })).status,
    ).toBe(401);
    expect((await server.call('PATCH', '/v1/settings', {}, { auth: null })).status).toBe(401);
  });
});
