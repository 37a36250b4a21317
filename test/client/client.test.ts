import { Tidings, TidingsError } from 'tidings/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FlakyProxy, startFlakyProxy } from '../fakes/flaky-proxy.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
let proxy: FlakyProxy;
let tidings: Tidings;
/** The same client behind the proxy, which fails requests on demand. */
let flaky: Tidings;

beforeAll(async () => {
  server = await startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS });
  proxy = await startFlakyProxy(server.url);
  tidings = new Tidings({ url: server.url, apiKey: server.key });
  flaky = new Tidings({ url: proxy.url, apiKey: server.key });
  await tidings.workflows.put('client-hello', {
    channels: [{ channel: 'in_app', template: { title: 'Hello {{ data.name }}' } }],
  });
});

afterAll(async () => {
  await Promise.all([proxy?.close(), server?.close()]);
});

beforeEach(() => {
  proxy.seen.length = 0;
});

describe('the client against a real server', () => {
  it('sends an idempotency key beyond Latin-1 (注文) as the key, the same as in the body', async () => {
    // Found by the events audit: fetch refused the header (a character above U+00FF), so the
    // trigger failed after its retries; and `é` went as one Latin-1 byte.
    for (const key of ['注文-client-1', 'clé-client-2']) {
      const input = { workflow: 'client-hello', to: ['cl_key'] };
      const accepted = await tidings.events.trigger(input, { idempotencyKey: key });
      expect(accepted.status).toBe('accepted');
      const again = await tidings.events.trigger({ ...input, idempotencyKey: key });
      expect(again).toEqual({ eventId: accepted.eventId, status: 'accepted', duplicate: true });
    }
    const bulk = await tidings.events.bulk([{ workflow: 'client-hello', to: ['cl_key'] }], {
      idempotencyKey: '注文-bulk',
    });
    const replay = await tidings.events.bulk([{ workflow: 'client-hello', to: ['cl_key'] }], {
      idempotencyKey: '注文-bulk',
    });
    expect(replay).toEqual(bulk);
  });

  it('triggers, reads and cancels events; a repeat with the same key is a duplicate', async () => {
    const accepted = await tidings.events.trigger(
      { workflow: 'client-hello', to: ['cl_1'], data: { name: 'Ada' } },
      { idempotencyKey: 'client-evt-1' },
    );
    expect(accepted).toEqual({ eventId: expect.stringMatching(/^evt_/), status: 'accepted' });
    const again = await tidings.events.trigger(
      { workflow: 'client-hello', to: ['cl_1'], data: { name: 'Ada' } },
      { idempotencyKey: 'client-evt-1' },
    );
    expect(again).toEqual({ eventId: accepted.eventId, status: 'accepted', duplicate: true });
    const view = await waitFor(async () => {
      const event = await tidings.events.get(accepted.eventId);
      return event.messages.length === 1 && event.messages[0]?.status === 'delivered' ? event : null;
    }, 'the in-app message delivered');
    expect(view?.workflow).toBe('client-hello');
    const later = await tidings.events.trigger({
      workflow: 'client-hello',
      to: ['cl_1'],
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(await tidings.events.cancel(later.eventId)).toMatchObject({ status: 'cancelled' });

    const bulk = await tidings.events.bulk([
      { workflow: 'client-hello', to: ['cl_2'] },
      { workflow: 'no-such-workflow', to: ['cl_2'] },
    ]);
    expect(bulk.results[0]).toMatchObject({ status: 'accepted' });
    expect(bulk.results[1]).toMatchObject({ error: { code: 'workflow_not_found' } });
  });

  it('throws TidingsError with status, code and details', async () => {
    const refused = await tidings.events
      .trigger({ workflow: 'missing', to: ['cl_1'] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TidingsError);
    expect(refused).toBeInstanceOf(Error);
    const error = refused as TidingsError;
    expect(error.name).toBe('TidingsError');
    expect(error.status).toBe(422);
    expect(error.code).toBe('workflow_not_found');
    expect(error.details).toEqual([{ path: 'workflow', message: expect.any(String) }]);

    const invalid = (await tidings.subscribers
      .upsert('cl_bad', { email: 'not an address' })
      .catch((e: unknown) => e)) as TidingsError;
    expect(invalid.status).toBe(400);
    expect(invalid.code).toBe('validation_failed');
    expect(invalid.details.map((d) => d.path)).toContain('email');

    const wrongKey = new Tidings({ url: server.url, apiKey: 'tdk_wrong_key_000000000000000' });
    const unauthorized = (await wrongKey.workflows
      .get('client-hello')
      .catch((e: unknown) => e)) as TidingsError;
    expect([unauthorized.status, unauthorized.code]).toEqual([401, 'unauthorized']);

    const nowhere = new Tidings({ url: 'http://127.0.0.1:1', apiKey: server.key, maxRetries: 0 });
    const network = (await nowhere.workflows.get('x').catch((e: unknown) => e)) as TidingsError;
    expect(network).toBeInstanceOf(TidingsError);
    expect([network.status, network.code]).toEqual([0, 'network_error']);
  });

  it('manages subscribers, preferences, devices, tokens, topics and workflows', async () => {
    const subscriber = await tidings.subscribers.upsert('cl_sub', {
      email: 'cl_sub@example.com',
      locale: 'fr',
    });
    expect(subscriber).toMatchObject({ subscriberId: 'cl_sub', email: 'cl_sub@example.com' });
    expect((await tidings.subscribers.get('cl_sub')).locale).toBe('fr');
    const bulk = await tidings.subscribers.bulk([
      { subscriberId: 'cl_bulk_1' },
      { subscriberId: 'cl_bulk_2', locale: 'de' },
    ]);
    expect(bulk.results).toHaveLength(2);

    const prefs = await tidings.subscribers.preferences.update('cl_sub', { channels: { sms: false } });
    expect(prefs.channels).toEqual({ sms: false });
    expect((await tidings.subscribers.preferences.get('cl_sub')).channels).toEqual({ sms: false });
    // The consent log's change is the object the PATCH made (typed so: reading a field type-checks).
    const log = await tidings.subscribers.consentLog('cl_sub');
    const change: Record<string, unknown> = log.items.at(-1)!.change;
    expect(change.preferences).toEqual({ channels: { sms: false } });
    expect(log.items.at(-1)).toMatchObject({ source: 'api' });
    // API.md names `subscribers.preferences` as a method: called, it reads (or, with a patch, changes).
    expect((await tidings.subscribers.preferences('cl_sub')).channels).toEqual({ sms: false });
    const both = await tidings.subscribers.preferences('cl_sub', { channels: { email: false } });
    expect(both.channels).toEqual({ sms: false, email: false });
    await tidings.subscribers.preferences('cl_sub', { channels: { email: null } });

    const token = await tidings.subscribers.token('cl_sub', { expiresIn: '1h' });
    expect(token.token.length).toBeGreaterThan(20);
    expect(Date.parse(token.expiresAt)).toBeGreaterThan(Date.now());

    const device = await tidings.subscribers.devices.put('cl_sub', 'phone', {
      platform: 'fcm',
      token: 'fcm-token-0123456789',
    });
    expect(device).toMatchObject({ deviceId: 'phone', platform: 'fcm', active: true });
    expect((await tidings.subscribers.devices.list('cl_sub')).items.map((d) => d.deviceId)).toEqual([
      'phone',
    ]);
    expect((await tidings.subscribers.devices('cl_sub')).items.map((d) => d.deviceId)).toEqual(['phone']);
    await tidings.subscribers.devices.delete('cl_sub', 'phone');
    expect((await tidings.subscribers.devices.list('cl_sub')).items).toEqual([]);

    await tidings.topics.put('cl-topic', { name: 'Client topic' });
    expect(
      await tidings.topics.addSubscribers('cl-topic', ['cl_sub', 'cl_bulk_1', 'cl_bulk_2']),
    ).toMatchObject({
      subscriberCount: 3,
    });
    const members: string[] = [];
    for await (const s of tidings.topics.subscribers('cl-topic', { limit: 2 }).items())
      members.push(s.subscriberId);
    expect(members).toEqual(['cl_bulk_1', 'cl_bulk_2', 'cl_sub']);
    await tidings.topics.removeSubscriber('cl-topic', 'cl_sub');
    expect((await tidings.topics.get('cl-topic')).subscriberCount).toBe(2);
    const topics: string[] = [];
    for await (const t of tidings.topics.list().items()) topics.push(t.key);
    expect(topics).toContain('cl-topic');
    await tidings.topics.delete('cl-topic');
    expect(((await tidings.topics.get('cl-topic').catch((e: unknown) => e)) as TidingsError).status).toBe(
      404,
    );

    await tidings.workflows.put('cl-temp', { channels: [{ channel: 'in_app', template: { title: 'x' } }] });
    const keys: string[] = [];
    for await (const w of tidings.workflows.list({ limit: 1 }).items()) keys.push(w.key);
    expect(keys).toEqual(expect.arrayContaining(['cl-temp', 'client-hello']));
    expect(await tidings.workflows.delete('cl-temp')).toMatchObject({ key: 'cl-temp', deleted: true });
    expect(((await tidings.workflows.get('cl-temp').catch((e: unknown) => e)) as TidingsError).code).toBe(
      'not_found',
    );

    const settings = await tidings.settings.update({ defaultTimezone: 'Europe/Paris' });
    expect(settings.defaultTimezone).toBe('Europe/Paris');
    expect((await tidings.settings.get()).defaultTimezone).toBe('Europe/Paris');
    await tidings.settings.update({ defaultTimezone: 'UTC' });
    const endpoint = await tidings.webhookEndpoints.put('cl-endpoint', {
      url: 'https://hooks.example.com/tidings',
      events: ['message.sent'],
    });
    expect(endpoint.secret).toMatch(/^whsec_/);
    expect((await tidings.webhookEndpoints.list()).items.map((e) => e.id)).toContain('cl-endpoint');
    expect((await tidings.webhookEndpoints.rotate('cl-endpoint')).secret).not.toBe(endpoint.secret);
    await tidings.webhookEndpoints.delete('cl-endpoint');
    expect((await tidings.webhookEndpoints.list()).items.map((e) => e.id)).not.toContain('cl-endpoint');
    const dead: string[] = [];
    for await (const m of tidings.deadLetters.list().items()) dead.push(m.messageId);
    expect(dead).toEqual([]);

    const subscribers: string[] = [];
    for await (const page of tidings.subscribers.list({ limit: 2 })) {
      expect(page.items.length).toBeLessThanOrEqual(2);
      subscribers.push(...page.items.map((s) => s.subscriberId));
    }
    expect(subscribers).toEqual(expect.arrayContaining(['cl_sub', 'cl_bulk_1', 'cl_bulk_2']));
  });

  it('pages messages with an async iterator', async () => {
    for (let i = 0; i < 5; i++) await tidings.events.trigger({ workflow: 'client-hello', to: ['cl_pages'] });
    await waitFor(
      async () => (await tidings.messages.listPage({ subscriberId: 'cl_pages' })).items.length === 5,
      '5 messages',
    );
    const pages: number[] = [];
    const ids: string[] = [];
    for await (const page of tidings.messages.list({ subscriberId: 'cl_pages', limit: 2 })) {
      pages.push(page.items.length);
      ids.push(...page.items.map((m) => m.messageId));
    }
    expect(pages.slice(0, 3)).toEqual([2, 2, 1]);
    expect(new Set(ids).size).toBe(5);
    const first = await tidings.messages.get(ids[0]!);
    expect(first).toMatchObject({ subscriberId: 'cl_pages', channel: 'in_app' });
  });
});

describe('retries', () => {
  it('retries 429 and 503 after their Retry-After, with the generated idempotency key each time', async () => {
    proxy.arrange(
      { kind: 'refuse', status: 429, retryAfter: '1' },
      { kind: 'refuse', status: 503, retryAfter: '0' },
    );
    const accepted = await flaky.events.trigger({ workflow: 'client-hello', to: ['cl_retry'] });
    expect(accepted.status).toBe('accepted');
    const tries = proxy.seen.filter((r) => r.path === '/v1/events');
    expect(tries).toHaveLength(3);
    const key = tries[0]!.idempotencyKey;
    expect(key).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(tries.map((t) => t.idempotencyKey)).toEqual([key, key, key]);
    // Retry-After: 1 was honoured (the second try came at least a second after the first).
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('a retry after a lost answer finds the event the first try made: one event, not two', async () => {
    proxy.arrange({ kind: 'lose-answer' });
    const accepted = await flaky.events.trigger(
      { workflow: 'client-hello', to: ['cl_lost'] },
      { idempotencyKey: 'client-lost-1' },
    );
    expect(accepted.duplicate).toBe(true);
    expect(proxy.seen.map((r) => r.idempotencyKey)).toEqual(['client-lost-1', 'client-lost-1']);
    await waitFor(
      async () => (await tidings.messages.listPage({ subscriberId: 'cl_lost' })).items.length === 1,
      'one message',
    );
    expect((await tidings.messages.listPage({ subscriberId: 'cl_lost' })).items).toHaveLength(1);
  });

  it('a bulk trigger retried after a lost answer is replayed, not accepted twice', async () => {
    proxy.arrange({ kind: 'lose-answer' });
    const bulk = await flaky.events.bulk([{ workflow: 'client-hello', to: ['cl_bulk_lost'] }]);
    const [first, second] = proxy.seen;
    expect(second?.idempotencyKey).toBe(first?.idempotencyKey);
    expect(bulk.results).toHaveLength(1);
    await waitFor(
      async () => (await tidings.messages.listPage({ subscriberId: 'cl_bulk_lost' })).items.length === 1,
      'one message',
    );
  });

  it('gives up after maxRetries and throws the last answer', async () => {
    const impatient = new Tidings({ url: proxy.url, apiKey: server.key, maxRetries: 1 });
    proxy.arrange(
      { kind: 'refuse', status: 503, retryAfter: '0' },
      { kind: 'refuse', status: 503, retryAfter: '0' },
    );
    const error = (await impatient.workflows.get('client-hello').catch((e: unknown) => e)) as TidingsError;
    expect([error.status, error.code]).toEqual([503, 'unavailable']);
    expect(proxy.seen).toHaveLength(2);
  });
});

describe('webhooks.verify', () => {
  it('verifies a status webhook as the server signed it, and refuses a tampered or stale one', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const created = await tidings.request<{ secret: string }>('PUT', '/v1/webhook-endpoints/client-hook', {
        body: { url: receiver.url, events: ['message.delivered'] },
      });
      await tidings.events.trigger({ workflow: 'client-hello', to: ['cl_hook'] });
      const [delivery] = await receiver.waitFor(1);
      const body = delivery!.body;
      const payload = (await tidings.webhooks.verify(
        body,
        delivery!.headers as Record<string, string>,
        created.secret,
      )) as {
        type: string;
      };
      expect(payload.type).toBe('message.delivered');
      const headers = new Headers(delivery!.headers as Record<string, string>);
      await expect(tidings.webhooks.verify(body, headers, created.secret)).resolves.toEqual(payload);

      const refuse = async (...args: Parameters<Tidings['webhooks']['verify']>) => {
        const error = (await tidings.webhooks.verify(...args).catch((e: unknown) => e)) as TidingsError;
        expect(error).toBeInstanceOf(TidingsError);
        expect(error.code).toBe('invalid_signature');
      };
      await refuse(body.replace('message.delivered', 'message.failed'), headers, created.secret);
      await refuse(body, headers, 'whsec_' + btoa('another secret of some length'));
      await refuse(body, headers, created.secret, { now: Date.now() + 10 * 60_000 });
      const { 'webhook-signature': _dropped, ...unsigned } = delivery!.headers as Record<string, string>;
      await refuse(body, unsigned, created.secret);
    } finally {
      await receiver.close();
    }
  });
});
