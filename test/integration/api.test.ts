import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { MAX_SUBSCRIBER_DATA_BYTES } from '../../src/ingest/subscriber-data.ts';
import { mintSubscriberToken } from '../../src/security/subscriber-token.ts';
import { alteredEnd } from '../helpers/altered.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { countRows, STORE_UNDER_TEST } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
const OTHER_KEY = 'tdk_other_tenant_key_000000000';

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('ten_other', 'Other');
  await addTenantKey(server.tidings.store, 'ten_other', OTHER_KEY, 'default');
  const res = await server.call('PUT', '/v1/workflows/alert', {
    priority: 'high',
    channels: [{ channel: 'in_app', template: { title: 'Alert {{ data.n }}', body: 'b' } }],
  });
  expect(res.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

/** Rows that an accepted event would add, read straight from the database. */
async function storedRows(): Promise<number> {
  const counts = await countRows(server.databaseUrl, ['events', 'subscribers', 'idempotency_keys']);
  return counts.events! + counts.subscribers! + counts.idempotency_keys!;
}

async function inboxOf(subscriberId: string) {
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
  return (await server.call('GET', '/v1/inbox?limit=100', undefined, { auth: token })).body.items;
}

describe('idempotent ingest', () => {
  it('answers a repeated body key with the same event, marked duplicate, and sends nothing again', async () => {
    const body = { workflow: 'alert', to: ['idem_1'], data: { n: 1 }, idempotencyKey: 'alert-9913' };
    const first = await server.call('POST', '/v1/events', body);
    expect(first.status).toBe(202);
    const second = await server.call('POST', '/v1/events', body);
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ eventId: first.body.eventId, status: 'accepted', duplicate: true });
    await waitFor(async () => (await inboxOf('idem_1')).length === 1, 'the first delivery');
    await new Promise((r) => setTimeout(r, 100));
    expect(await inboxOf('idem_1')).toHaveLength(1);
  });

  it('takes the key from the Idempotency-Key header too, and the header and body must agree', async () => {
    const body = { workflow: 'alert', to: ['idem_2'], data: { n: 2 } };
    const headers = { 'idempotency-key': 'hdr-1' };
    const first = await server.call('POST', '/v1/events', body, { headers });
    const second = await server.call('POST', '/v1/events', { ...body, idempotencyKey: 'hdr-1' }, { headers });
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(second.body.eventId).toBe(first.body.eventId);
    const mismatch = await server.call(
      'POST',
      '/v1/events',
      { ...body, idempotencyKey: 'other' },
      { headers },
    );
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.code).toBe('idempotency_key_mismatch');
  });

  it('refuses the same key with a different payload (409)', async () => {
    await server.call('POST', '/v1/events', { workflow: 'alert', to: ['idem_3'], idempotencyKey: 'k-409' });
    const res = await server.call('POST', '/v1/events', {
      workflow: 'alert',
      to: ['someone_else'],
      idempotencyKey: 'k-409',
    });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      code: 'idempotency_key_reused',
      details: [{ path: 'idempotencyKey' }],
    });
  });

  it('names the Idempotency-Key header in the 409 when the key came only in the header', async () => {
    // Found by the events audit: the detail named `idempotencyKey`, a field the caller never sent.
    const headers = { 'idempotency-key': 'k-409-header' };
    const first = await server.call('POST', '/v1/events', { workflow: 'alert', to: ['idem_4'] }, { headers });
    expect(first.status).toBe(202);
    const res = await server.call('POST', '/v1/events', { workflow: 'alert', to: ['idem_5'] }, { headers });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      code: 'idempotency_key_reused',
      details: [{ path: 'Idempotency-Key', message: 'was already used with a different payload' }],
    });
  });

  it('yields one event when 20 identical requests race', async () => {
    const body = { workflow: 'alert', to: ['racer'], data: { n: 20 }, idempotencyKey: 'race-1' };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => server.call('POST', '/v1/events', body)),
    );
    const ids = new Set(results.map((r) => r.body.eventId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200 && r.body.duplicate === true)).toHaveLength(19);
    await waitFor(async () => (await inboxOf('racer')).length === 1, 'the delivery');
    await new Promise((r) => setTimeout(r, 100));
    expect(await inboxOf('racer')).toHaveLength(1);
  });

  it('accepts bulk events one by one: a bad item does not reject the others', async () => {
    const res = await server.call('POST', '/v1/events/bulk', {
      events: [
        { workflow: 'alert', to: ['bulk_1'], idempotencyKey: 'bulk-a' },
        { workflow: 'alert' },
        { workflow: 'missing', to: ['bulk_2'] },
        { workflow: 'alert', to: ['bulk_1'], idempotencyKey: 'bulk-a' },
      ],
    });
    expect(res.status).toBe(202);
    const [ok, invalid, unknown, duplicate] = res.body.results;
    expect(ok).toEqual({ eventId: expect.stringMatching(/^evt_/), status: 'accepted' });
    expect(invalid.error).toMatchObject({
      code: 'validation_failed',
      details: [{ path: 'events[1].to', message: 'is required' }],
    });
    expect(unknown.error.code).toBe('workflow_not_found');
    expect(duplicate).toEqual({ eventId: ok.eventId, status: 'accepted', duplicate: true });
  });

  it("names every refused bulk item's field under events[i], whatever refused it", async () => {
    // Found by the hostile-input sweep: an unknown workflow and a reused idempotency key named
    // `workflow` and `idempotencyKey`, while invalid items and unknown topics named events[i].….
    const res = await server.call('POST', '/v1/events/bulk', {
      events: [
        { workflow: 'alert', to: ['bulk_3'], idempotencyKey: 'bulk-paths' },
        { workflow: 'missing', to: ['bulk_3'] },
        { workflow: 'alert', to: ['bulk_3'], idempotencyKey: 'bulk-paths', data: { other: true } },
        { workflow: 'alert', to: [{ topic: 'no-such-topic' }] },
      ],
    });
    expect(res.status).toBe(202);
    const [, unknown, reused, topic] = res.body.results;
    expect(unknown.error).toMatchObject({
      code: 'workflow_not_found',
      details: [{ path: 'events[1].workflow', message: 'is not a known workflow' }],
    });
    expect(reused.error).toMatchObject({
      code: 'idempotency_key_reused',
      details: [{ path: 'events[2].idempotencyKey', message: expect.any(String) }],
    });
    expect(topic.error.details.map((d: { path: string }) => d.path)).toEqual(['events[3].to[0].topic']);
  });
});

describe('the event view', () => {
  it('shows the actor and locale the event was sent with, as it shows its data and schedule', async () => {
    // Found by the events audit: both shape what its messages say, and neither was shown.
    const sent = await server.call('POST', '/v1/events', {
      workflow: 'alert',
      to: ['view_1'],
      actor: 'user_1',
      locale: 'es-MX',
    });
    expect(sent.status).toBe(202);
    const view = (await server.call('GET', `/v1/events/${sent.body.eventId}`)).body;
    expect(view).toMatchObject({ eventId: sent.body.eventId, actor: 'user_1', locale: 'es-MX' });
    const plain = await server.call('POST', '/v1/events', { workflow: 'alert', to: ['view_1'] });
    const plainView = (await server.call('GET', `/v1/events/${plain.body.eventId}`)).body;
    expect(plainView).not.toHaveProperty('actor');
    expect(plainView).not.toHaveProperty('locale');
  });
});

describe('bad input', () => {
  it.each([
    [{ to: ['u'] }, 'workflow', 'is required'],
    [{ workflow: 'alert' }, 'to', 'is required'],
    [{ workflow: 'alert', to: [] }, 'to', 'must not have fewer than 1 items'],
    [
      { workflow: 'alert', to: [{ subscriberId: 'u', email: 'not-an-email' }] },
      'to[0].email',
      'must be an email address such as ada@example.com',
    ],
    [{ workflow: 'alert', to: ['ok', 42] }, 'to[1]', 'must be a subscriber id'],
    [{ workflow: 'alert', to: [{ topic: '' }] }, 'to[0].topic', 'must not have fewer than 1 characters'],
    [
      { workflow: 'alert', to: ['u'], priority: 'urgent' },
      'priority',
      'must be one of "critical", "high", "normal", "bulk"',
    ],
    [{ workflow: 'alert', to: ['u'], surprise: true }, 'surprise', 'is not a known field'],
    [
      { workflow: 'alert', to: ['u'], sendAt: 'tomorrow' },
      'sendAt',
      'must be a date and time in RFC 3339 form',
    ],
    [
      { workflow: 'alert', to: [{ subscriberId: 'u', timezone: 'Mars/Olympus' }] },
      'to[0].timezone',
      'must be an IANA time zone such as Europe/Berlin',
    ],
    [
      { workflow: 'alert', to: [{ subscriberId: 'u', locale: 'not a locale' }] },
      'to[0].locale',
      'must be a language tag such as en or pt-BR',
    ],
  ])('rejects %j with 400 naming %s, storing nothing', async (body, path, message) => {
    const before = await storedRows();
    const res = await server.call('POST', '/v1/events', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.message).toContain(path);
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ path, message: expect.stringContaining(message) })]),
    );
    expect(await storedRows()).toBe(before);
  });

  it.each(['1.5', '1e1', 'ten', '0'])(
    'answers 400 naming the query field for limit=%s instead of guessing',
    async (limit) => {
      const res = await server.call('GET', `/v1/messages?limit=${limit}`);
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ path: expect.stringContaining('limit') })]),
      );
    },
  );

  it.each([
    [
      'channel=fax',
      'channel',
      'must be one of "in_app", "email", "sms", "push", "webpush", "chat", "webhook"',
    ],
    ['status=sended', 'status', 'must be one of "queued", "deferred", "suppressed"'],
  ])('answers %s with the values the query field takes', async (query, path, message) => {
    // Found by the events audit: "must be equal to one of the allowed values" named none of them.
    const res = await server.call('GET', `/v1/messages?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path, message: expect.stringContaining(message) }]);
  });

  it.each([
    ['GET', '/v1/messages?status=sent&status=read', 'status'],
    ['GET', '/v1/messages?limit=2&limit=3', 'limit'],
    ['GET', '/v1/dead-letters?cursor=a&cursor=b', 'cursor'],
    ['DELETE', '/v1/events?cancellationKey=a&cancellationKey=b', 'cancellationKey'],
  ])('answers %s %s naming %s as given more than once', async (method, route, path) => {
    // Found by the events audit: a repeated parameter was answered "must be string" or "must be
    // integer", though the caller had sent a string or an integer each time.
    const res = await server.call(method, route);
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path, message: 'is given more than once; send it once' }]);
  });

  it('checks subscriber time zones and locales, and stores valid ones', async () => {
    const bad = await server.call('PUT', '/v1/subscribers/tz_1', { timezone: 'Asia/Tokyoo' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('timezone');
    expect((await server.call('GET', '/v1/subscribers/tz_1')).status).toBe(404);
    const good = await server.call('PUT', '/v1/subscribers/tz_1', {
      timezone: 'Asia/Tokyo',
      locale: 'es-MX',
    });
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ subscriberId: 'tz_1', timezone: 'Asia/Tokyo', locale: 'es-MX' });
  });

  it("holds a subscriber's data to 65536 bytes of JSON at PUT: up to it stored, beyond it a 400 naming data", async () => {
    // Found by the subscriber-data audit: data was bounded only by the 1 MiB body, and every
    // delivery, inbox render and export reads it whole (300 such profiles took a worker to 1.9 GB).
    // Counted in UTF-8 bytes of its JSON: {"s":"…"} is 8 bytes around 2 bytes per "é".
    const atLimit = { s: 'é'.repeat(32_764) };
    expect(Buffer.byteLength(JSON.stringify(atLimit))).toBe(MAX_SUBSCRIBER_DATA_BYTES);
    const kept = await server.call('PUT', '/v1/subscribers/data_cap_1', { data: atLimit });
    expect(kept.status).toBe(200);
    expect(kept.body.data.s).toHaveLength(32_764);

    const over = { s: `${'é'.repeat(32_764)}x` };
    for (const id of ['data_cap_1', 'data_cap_new']) {
      const refused = await server.call('PUT', `/v1/subscribers/${id}`, { locale: 'de', data: over });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({
        code: 'validation_failed',
        details: [
          { path: 'data', message: 'must be at most 65536 bytes as JSON (UTF-8); it is 65537 bytes' },
        ],
      });
    }
    // Nothing of a refused PUT was written: the subscriber is as before, the new one was not made.
    const stored = await server.call('GET', '/v1/subscribers/data_cap_1');
    expect(stored.body.locale).toBeNull();
    expect(stored.body.data.s).toBe(atLimit.s);
    expect((await server.call('GET', '/v1/subscribers/data_cap_new')).status).toBe(404);
  });

  it("refuses an event whose inline subscriber's data is over 65536 bytes, naming to[i].data, storing nothing", async () => {
    await server.call('PUT', '/v1/subscribers/data_cap_2', {
      email: 'before@example.com',
      data: { plan: 'free' },
    });
    const before = await storedRows();
    const big = { s: 'x'.repeat(MAX_SUBSCRIBER_DATA_BYTES) };
    const res = await server.call('POST', '/v1/events', {
      workflow: 'alert',
      to: [
        { subscriberId: 'data_cap_3', data: { plan: 'pro' } },
        'data_cap_4',
        { subscriberId: 'data_cap_2', email: 'after@example.com', data: big },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.message).toContain('to[2].data');
    expect(res.body.error.details).toEqual([
      { path: 'to[2].data', message: expect.stringContaining('must be at most 65536 bytes as JSON') },
    ]);
    expect(await storedRows()).toBe(before);
    const unchanged = await server.call('GET', '/v1/subscribers/data_cap_2');
    expect(unchanged.body).toMatchObject({ email: 'before@example.com', data: { plan: 'free' } });
    expect((await server.call('GET', '/v1/subscribers/data_cap_3')).status).toBe(404);
  });

  it("refuses only the bulk event whose inline subscriber's data is over 65536 bytes, naming events[i].to[j].data", async () => {
    const big = { s: 'x'.repeat(MAX_SUBSCRIBER_DATA_BYTES) };
    const res = await server.call('POST', '/v1/events/bulk', {
      events: [
        { workflow: 'alert', to: [{ subscriberId: 'data_cap_5', data: { plan: 'pro' } }] },
        { workflow: 'alert', to: ['data_cap_6', { subscriberId: 'data_cap_7', data: big }] },
      ],
    });
    expect(res.status).toBe(202);
    const [accepted, refused] = res.body.results;
    expect(accepted).toEqual({ eventId: expect.stringMatching(/^evt_/), status: 'accepted' });
    expect(refused.error).toMatchObject({
      code: 'validation_failed',
      details: [
        {
          path: 'events[1].to[1].data',
          message: expect.stringContaining('must be at most 65536 bytes as JSON'),
        },
      ],
    });
    expect((await server.call('GET', '/v1/subscribers/data_cap_5')).body.data).toEqual({ plan: 'pro' });
    for (const id of ['data_cap_6', 'data_cap_7'])
      expect((await server.call('GET', `/v1/subscribers/${id}`)).status).toBe(404);
  });

  it('answers 422 for an unknown workflow', async () => {
    const res = await server.call('POST', '/v1/events', { workflow: 'nope', to: ['u'] });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('workflow_not_found');
  });

  it('answers 400 for malformed JSON and 413 for an oversized body', async () => {
    const malformed = await server.call('POST', '/v1/events', '{"workflow": "alert", ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_json');
    // JSON null is no object (Fastify would skip validating it: a PUT answered 200).
    for (const [method, route] of [
      ['PUT', '/v1/subscribers/null_body'],
      ['PATCH', '/v1/settings'],
      ['POST', '/v1/subscribers/null_body/token'],
    ] as const) {
      const empty = await server.call(method, route, 'null');
      expect(empty.status, route).toBe(400);
      expect(empty.body.error).toMatchObject({ code: 'validation_failed', details: [{ path: '' }] });
    }
    expect((await server.call('GET', '/v1/subscribers/null_body')).status).toBe(404);
    // A route that reads no body refuses one it would drop unread (read-all took a category
    // filter it never applied and read every item); no body and {} are still fine.
    const token = (await server.call('POST', '/v1/subscribers/no_body/token')).body.token;
    await server.call('POST', '/v1/events', { workflow: 'alert', to: ['no_body'], data: { n: 1 } });
    await waitFor(async () => (await inboxOf('no_body')).length === 1, 'the inbox item');
    for (const [body, path] of [
      [{ category: 'social' }, 'category'],
      [[], ''],
      [7, ''],
    ] as const) {
      const refused = await server.call('POST', '/v1/inbox/read-all', body, { auth: token });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'validation_failed', details: [{ path }] });
    }
    expect((await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count).toBe(
      1,
    );
    const rotate = await server.call('POST', '/v1/webhook-endpoints/none/rotate', { grace: '1h' });
    expect(rotate.status).toBe(400);
    expect(rotate.body.error.details[0].path).toBe('grace');
    expect((await server.call('POST', '/v1/inbox/read-all', {}, { auth: token })).body.updated).toBe(1);
    expect((await server.call('POST', '/v1/inbox/seen-all', undefined, { auth: token })).status).toBe(200);
    // An unknown route is still a 404 whatever its body.
    expect((await server.call('POST', '/v1/nowhere', { a: 1 })).status).toBe(404);
    const huge = await server.call('POST', '/v1/events', {
      workflow: 'alert',
      to: ['u'],
      data: { blob: 'x'.repeat(1_100_000) },
    });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
  });

  it('rejects broken templates when the workflow is saved', async () => {
    const res = await server.call('PUT', '/v1/workflows/broken', {
      channels: [{ channel: 'in_app', template: { title: 'ok', body: '{{ data.x ' } }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('channels[0].template.body');
    expect((await server.call('GET', '/v1/workflows/broken')).status).toBe(404);
  });

  it('validates integrations against their provider and never returns credentials', async () => {
    const unknown = await server.call('PUT', '/v1/integrations/x', { channel: 'email', provider: 'pigeon' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].path).toBe('provider');
    const missing = await server.call('PUT', '/v1/integrations/x', {
      channel: 'email',
      provider: 'smtp',
      config: { host: 'h' },
    });
    // The provider's own fields are checked like every offline check of an integration: 422.
    expect(missing.status).toBe(422);
    expect(missing.body.error.details.map((d: { path: string }) => d.path)).toEqual(
      expect.arrayContaining(['config.port', 'config.from']),
    );
    const badHost = await server.call('PUT', '/v1/integrations/x', {
      channel: 'email',
      provider: 'smtp',
      config: { host: 'not a host', port: 25, from: 'a@b.c' },
    });
    expect(badHost.status).toBe(422);
    expect(badHost.body.error).toMatchObject({ code: 'unprocessable', details: [{ path: 'config.host' }] });
    // The sandbox takes no config and no credentials.
    const sandboxed = await server.call('PUT', '/v1/integrations/sb', {
      channel: 'sms',
      provider: 'sandbox',
      config: { colour: 'blue' },
      credentials: { token: 'y' },
    });
    expect(sandboxed.status).toBe(422);
    expect(sandboxed.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'config.colour',
      'credentials.token',
    ]);
    expect(
      (await server.call('PUT', '/v1/integrations/sb', { channel: 'sms', provider: 'sandbox' })).status,
    ).toBe(200);
    expect((await server.call('DELETE', '/v1/integrations/sb')).status).toBe(204);
    const ok = await server.call('PUT', '/v1/integrations/x', {
      channel: 'email',
      provider: 'smtp',
      config: { host: 'h', port: 25, from: 'a@acme.test' },
      credentials: { user: 'relay', pass: 'hunter2' },
    });
    expect(ok.status).toBe(200);
    const listed = await server.call('GET', '/v1/integrations');
    expect(JSON.stringify(listed.body)).not.toContain('hunter2');
    expect(listed.body.items[0]).toMatchObject({ id: 'x', hasCredentials: true });
  });
});

describe('auth and tenant isolation', () => {
  it('answers 401 for a missing or wrong key, before reading the body', async () => {
    expect((await server.call('GET', '/v1/workflows', undefined, { auth: null })).status).toBe(401);
    const wrong = await server.call('POST', '/v1/events', '{not even json', {
      auth: 'tdk_wrong_key_00000000000',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
  });

  it('rejects forged and expired subscriber tokens, and server routes refuse them', async () => {
    const { token } = (await server.call('POST', '/v1/subscribers/iso_1/token')).body;
    const forged = alteredEnd(token, 4);
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: forged })).status).toBe(401);
    const wrongKey = await mintSubscriberToken(new Uint8Array(32), {
      tenantId: 'default',
      subscriberId: 'iso_1',
    });
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: wrongKey.token })).status).toBe(401);
    // Signed with the server's real key, but two days old with a one-minute lifetime.
    const keys = server.tidings.keys;
    const claims = { tenantId: 'default', subscriberId: 'iso_1' };
    const valid = await mintSubscriberToken(keys.tokenSigning, claims, 60);
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: valid.token })).status).toBe(200);
    const expired = await mintSubscriberToken(keys.tokenSigning, claims, 60, Date.now() - 2 * 86_400_000);
    const refused = await server.call('GET', '/v1/inbox', undefined, { auth: expired.token });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/invalid or has expired/);
    // At least the lifetime asked for, at most a second more (exp counts from the next whole second).
    const before = Date.now();
    const short = await server.call('POST', '/v1/subscribers/iso_1/token', { expiresIn: 60 });
    expect(Date.parse(short.body.expiresAt) - before).toBeGreaterThanOrEqual(60_000);
    expect(Date.parse(short.body.expiresAt) - Date.now()).toBeLessThanOrEqual(61_000);
    expect((await server.call('GET', '/v1/events/evt_x', undefined, { auth: token })).status).toBe(401);
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: server.key })).status).toBe(401);
    // Without any credential, each route names what it takes.
    const bare = async (path: string) => (await fetch(`${server.url}${path}`)).json();
    expect((await bare('/v1/inbox')).error.message).toContain('Bearer <subscriber token>');
    expect((await bare('/v1/events/evt_x')).error.message).toContain('Bearer <key>');
    // A path no route serves is not found for a valid subscriber token too, not a refused key.
    const unknown = await server.call('GET', '/v1/inbox/no/such/route', undefined, { auth: token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    expect((await server.call('POST', '/v1/nowhere', {}, { auth: token })).status).toBe(404);
    expect((await server.call('GET', '/v1/inbox/no/such/route', undefined, { auth: 'a.b.c' })).status).toBe(
      401,
    );
  });

  it("shows another tenant none of this tenant's events, subscribers, workflows or inbox", async () => {
    await server.call('PUT', '/v1/subscribers/iso_2', { email: 'iso@example.test' });
    const event = await server.call('POST', '/v1/events', { workflow: 'alert', to: ['iso_2'] });
    const other = { auth: OTHER_KEY };
    expect((await server.call('GET', `/v1/events/${event.body.eventId}`, undefined, other)).status).toBe(404);
    expect((await server.call('GET', '/v1/subscribers/iso_2', undefined, other)).status).toBe(404);
    expect((await server.call('GET', '/v1/workflows/alert', undefined, other)).status).toBe(404);
    expect(
      (await server.call('POST', '/v1/events', { workflow: 'alert', to: ['iso_2'] }, other)).status,
    ).toBe(422);
    await waitFor(async () => (await inboxOf('iso_2')).length === 1, 'the delivery');
    const item = (await inboxOf('iso_2'))[0];
    expect((await server.call('GET', `/v1/messages/${item.id}`, undefined, other)).status).toBe(404);
    // Its DELETE of the id finds no subscriber of its own, and erases nothing of this tenant's.
    const erase = await server.call('DELETE', '/v1/subscribers/iso_2', undefined, other);
    expect(erase.status).toBe(404);
    expect(erase.body.error.code).toBe('not_found');
    expect((await server.call('GET', '/v1/subscribers/iso_2')).body.email).toBe('iso@example.test');
    const otherToken = (await server.call('POST', '/v1/subscribers/iso_2/token', undefined, other)).body
      .token;
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: otherToken })).body.items).toEqual([]);
    expect(
      (await server.call('POST', `/v1/inbox/${item.id}/read`, undefined, { auth: otherToken })).status,
    ).toBe(404);
    expect((await server.call('GET', '/v1/messages', undefined, other)).body.items).toEqual([]);
  });
});

describe('inbox', () => {
  it('pages newest first with a cursor and keeps read state', async () => {
    for (let n = 0; n < 5; n++) {
      expect(
        (await server.call('POST', '/v1/events', { workflow: 'alert', to: ['reader'], data: { n } })).status,
      ).toBe(202);
    }
    const token = (await server.call('POST', '/v1/subscribers/reader/token')).body.token;
    const auth = { auth: token };
    await waitFor(
      async () => (await server.call('GET', '/v1/inbox/unread-count', undefined, auth)).body.count === 5,
      '5 unread',
    );
    const first = await server.call('GET', '/v1/inbox?limit=2', undefined, auth);
    expect(first.body.items.map((i: { title: string }) => i.title)).toEqual(['Alert 4', 'Alert 3']);
    const second = await server.call(
      'GET',
      `/v1/inbox?limit=2&cursor=${first.body.nextCursor}`,
      undefined,
      auth,
    );
    expect(second.body.items.map((i: { title: string }) => i.title)).toEqual(['Alert 2', 'Alert 1']);
    const third = await server.call(
      'GET',
      `/v1/inbox?limit=2&cursor=${second.body.nextCursor}`,
      undefined,
      auth,
    );
    expect(third.body.items.map((i: { title: string }) => i.title)).toEqual(['Alert 0']);
    expect(third.body.nextCursor).toBeNull();
    // A page that ends the inbox says so: no cursor to an empty page.
    const whole = await server.call('GET', '/v1/inbox?limit=5', undefined, auth);
    expect(whole.body.items).toHaveLength(5);
    expect(whole.body.nextCursor).toBeNull();
    expect((await server.call('GET', '/v1/inbox?cursor=garbage!', undefined, auth)).status).toBe(400);

    const [top] = first.body.items;
    const read = await server.call('POST', `/v1/inbox/${top.id}/read`, undefined, auth);
    expect(read.status).toBe(200);
    expect(read.body.readAt).not.toBeNull();
    expect((await server.call('GET', '/v1/inbox/unread-count', undefined, auth)).body.count).toBe(4);
    const message = await server.call('GET', `/v1/messages/${top.id}`);
    expect(message.body.status).toBe('read');

    const archived = await server.call('POST', `/v1/inbox/${first.body.items[1].id}/archive`, '', {
      ...auth,
      headers: { 'content-type': 'application/json' },
    });
    expect(archived.status).toBe(200);
    expect((await server.call('GET', '/v1/inbox?limit=10', undefined, auth)).body.items).toHaveLength(4);
    expect((await server.call('GET', '/v1/inbox?archived=true', undefined, auth)).body.items).toHaveLength(1);

    expect((await server.call('POST', '/v1/inbox/seen-all', undefined, auth)).body.updated).toBe(3);
    expect((await server.call('POST', '/v1/inbox/read-all', undefined, auth)).body.updated).toBe(3);
    expect((await server.call('GET', '/v1/inbox/unread-count', undefined, auth)).body.count).toBe(0);
  });

  it('answers CORS preflights for the inbox only', async () => {
    const preflight = await fetch(`${server.url}/v1/inbox`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const events = await fetch(`${server.url}/v1/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(events.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('operations', () => {
  it('serves health, readiness, metrics and the OpenAPI document without a key', async () => {
    expect((await server.call('GET', '/healthz', undefined, { auth: null })).body).toEqual({ status: 'ok' });
    expect((await server.call('GET', '/readyz', undefined, { auth: null })).body).toEqual({
      status: 'ready',
    });
    const metrics = await server.call('GET', '/metrics', undefined, { auth: null });
    expect(metrics.body).toContain('tidings_events_accepted_total');
    const openapi = await server.call('GET', '/openapi.json', undefined, { auth: null });
    expect(openapi.body.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/events',
        '/v1/events/bulk',
        '/v1/inbox',
        '/v1/workflows/{key}',
        '/v1/dead-letters',
      ]),
    );
    expect(
      openapi.body.paths['/v1/events'].post.requestBody.content['application/json'].schema.required,
    ).toEqual(['workflow', 'to']);
    // The plain inbox routes take ?token= without reading it (only the streams authenticate by
    // query): the reference says so rather than listing it as a way in.
    for (const route of ['/v1/inbox', '/v1/inbox/unread-count']) {
      const token = openapi.body.paths[route].get.parameters.find(
        (p: { name: string }) => p.name === 'token',
      );
      expect(token.description).toMatch(/^not read: send the subscriber token as Authorization: Bearer/);
    }
  });

  it.runIf(STORE_UNDER_TEST === 'sqlite')(
    'answers 503 with Retry-After when another process holds the database too long, writing nothing',
    async () => {
      const other = new Database(path.join(server.dataDir, 'tidings.db'));
      other.prepare('BEGIN IMMEDIATE').run();
      try {
        const res = await server.call('PUT', '/v1/subscribers/busy_1', { email: 'busy@example.test' });
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('unavailable');
        expect(res.headers.get('retry-after')).toBe('1');
      } finally {
        other.prepare('ROLLBACK').run();
        other.close();
      }
      expect((await server.call('GET', '/v1/subscribers/busy_1')).status).toBe(404);
    },
    15_000,
  );

  it('answers unknown routes with the error catalogue', async () => {
    const res = await server.call('GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});
