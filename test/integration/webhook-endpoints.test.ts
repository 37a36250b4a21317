import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signUnsubscribeToken } from '../../src/security/unsubscribe-token.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import {
  type ReceivedRequest,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

const OPERATOR_KEY = 'op_0123456789abcdef0123456789abcdef0123';

let server: TestServer;
const receivers: WebhookReceiver[] = [];

async function receiver(...args: Parameters<typeof startWebhookReceiver>): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver(...args);
  receivers.push(started);
  return started;
}

beforeAll(async () => {
  server = await startTestServer({
    TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
    TIDINGS_OPERATOR_KEY: OPERATOR_KEY,
    TIDINGS_PUBLIC_URL: 'https://notify.example.test',
  });
  for (const [key, channels] of [
    ['hello', [{ channel: 'email', template: { subject: 'Hi', text: 'Hello {{ data.n }}' } }]],
    [
      'both',
      [
        { channel: 'in_app', template: { title: 'Hi', body: 'Hello' } },
        { channel: 'email', template: { subject: 'Hi', text: 'Hello' } },
      ],
    ],
  ] as const) {
    expect((await server.call('PUT', `/v1/workflows/${key}`, { channels })).status).toBe(200);
  }
});

afterEach(async () => {
  // Each test starts with no endpoints: one test's endpoints must not hear the next one's events.
  const { body } = await server.call('GET', '/v1/webhook-endpoints');
  for (const endpoint of body.items) await server.call('DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await server?.close();
});

async function putEndpoint(id: string, url: string, events: string[]): Promise<string> {
  const put = await server.call('PUT', `/v1/webhook-endpoints/${id}`, { url, events });
  expect(put.status).toBe(201);
  return put.body.secret as string;
}

async function sendEvent(workflow: string, subscriberId: string): Promise<string> {
  const sent = await server.call('POST', '/v1/events', {
    workflow,
    to: [{ subscriberId, email: `${subscriberId}@example.com` }],
    data: { n: 1 },
  });
  expect(sent.status).toBe(202);
  return sent.body.eventId as string;
}

/** Waits until no job is ready or leased: every event queued so far has been delivered (or dropped). */
async function queueDrained(): Promise<void> {
  await waitFor(async () => {
    const { ready, leased } = await server.tidings.store.countJobs();
    return ready === 0 && leased === 0;
  }, 'the queue to drain');
}

function verify(secret: string, request: ReceivedRequest) {
  // biome-ignore lint/suspicious/noExplicitAny: the verified payload is checked field by field
  return new Webhook(secret).verify(request.body, request.headers) as any;
}

describe('webhook endpoints API', () => {
  it('shows the secret once, at creation; lists and gets never show it; a re-PUT keeps it', async () => {
    const hook = await receiver();
    const put = await server.call('PUT', '/v1/webhook-endpoints/ops', {
      url: hook.url,
      events: ['message.sent', 'message.failed'],
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('cache-control')).toBe('no-store');
    expect(put.body).toMatchObject({
      id: 'ops',
      url: hook.url,
      events: ['message.sent', 'message.failed'],
      enabled: true,
      disabledReason: null,
    });
    expect(put.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);

    const list = await server.call('GET', '/v1/webhook-endpoints');
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(put.body.secret.slice(6));
    expect(list.body.items[0]).not.toHaveProperty('secret');
    const one = await server.call('GET', '/v1/webhook-endpoints/ops');
    expect(one.body).not.toHaveProperty('secret');

    const again = await server.call('PUT', '/v1/webhook-endpoints/ops', {
      url: hook.url,
      events: ['message.dead'],
    });
    expect(again.status).toBe(200);
    expect(again.body).not.toHaveProperty('secret');
    expect(again.body.events).toEqual(['message.dead']);

    // The secret from creation still signs.
    await server.call('POST', '/v1/webhook-endpoints/ops/test');
    const [ping] = await hook.waitFor(1);
    expect(verify(put.body.secret, ping!).type).toBe('ping');
  });

  it('refuses bad input with 400 naming the field, and private targets with 422 blocked_target', async () => {
    const cases: [unknown, string][] = [
      [{ url: 'not a url', events: ['message.sent'] }, 'url'],
      [{ url: 'ftp://example.com/hook', events: ['message.sent'] }, 'url'],
      [{ url: 'https://user:pw@example.com/hook', events: ['message.sent'] }, 'url'],
      // A URL parser drops the line break: refused, not stored as another URL.
      [{ url: 'https://example.com/hook\r\nX: y', events: ['message.sent'] }, 'url'],
      [{ url: 'https://example.com/hook', events: [] }, 'events'],
      [{ url: 'https://example.com/hook', events: ['message.exploded'] }, 'events'],
      [{ url: 'https://example.com/hook', events: ['message.sent', 'message.sent'] }, 'events'],
      [{ url: 'https://example.com/hook', events: ['message.sent'], secret: 'mine' }, 'secret'],
      [{ events: ['message.sent'] }, 'url'],
      [{ url: 'https://example.com/hook' }, 'events'],
    ];
    for (const [body, field] of cases) {
      const answer = await server.call('PUT', '/v1/webhook-endpoints/bad', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.code).toBe('validation_failed');
      expect(JSON.stringify(answer.body.error), JSON.stringify(body)).toContain(field);
    }
    expect((await server.call('PUT', '/v1/webhook-endpoints/bad')).status).toBe(400);
    expect((await server.call('PUT', '/v1/webhook-endpoints/bad', '{"url":')).status).toBe(400);
    const longId = await server.call('PUT', `/v1/webhook-endpoints/${'x'.repeat(101)}`, {
      url: 'https://example.com/hook',
      events: ['message.sent'],
    });
    expect(longId.status).toBe(400);
    for (const url of ['http://10.1.2.3/hook', 'http://169.254.169.254/latest', 'http://[fd00::1]:8080/']) {
      const blocked = await server.call('PUT', '/v1/webhook-endpoints/bad', {
        url,
        events: ['message.sent'],
      });
      expect(blocked.status, url).toBe(422);
      expect(blocked.body.error.code).toBe('blocked_target');
      expect(blocked.body.error.details[0].path).toBe('url');
    }
    expect((await server.call('GET', '/v1/webhook-endpoints')).body.items).toEqual([]);
    expect((await server.call('GET', '/v1/webhook-endpoints/nope')).status).toBe(404);
    expect((await server.call('DELETE', '/v1/webhook-endpoints/nope')).status).toBe(404);
    expect((await server.call('POST', '/v1/webhook-endpoints/nope/rotate')).status).toBe(404);
    expect((await server.call('POST', '/v1/webhook-endpoints/nope/test')).status).toBe(404);
    expect((await server.call('GET', '/v1/webhook-endpoints', undefined, { auth: null })).status).toBe(401);
  });

  // Found by the acceptance audit: 25 PUTs at once on PostgreSQL left a tenant with 21 endpoints,
  // each racing past the count the route read before inserting.
  it('keeps a tenant at 20 endpoints when PUTs race for the last places (the rest answer 422)', async () => {
    const tenant = await server.call('POST', '/v1/tenants', { name: 'Racing' }, { auth: OPERATOR_KEY });
    const theirs = { auth: tenant.body.apiKey as string };
    const hook = await receiver();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        server.call(
          'PUT',
          `/v1/webhook-endpoints/race-${i}`,
          { url: hook.url, events: ['message.sent'] },
          theirs,
        ),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.filter((s) => s === 422)).toHaveLength(10);
    expect((await server.call('GET', '/v1/webhook-endpoints', undefined, theirs)).body.items).toHaveLength(
      20,
    );
    // A re-PUT of one it has still passes at the limit.
    expect(
      (
        await server.call(
          'PUT',
          '/v1/webhook-endpoints/race-0',
          { url: hook.url, events: ['message.dead'] },
          theirs,
        )
      ).status,
    ).toBe(200);
  });

  it("keeps another tenant's endpoints invisible", async () => {
    const hook = await receiver();
    await putEndpoint('shared-id', hook.url, ['message.sent']);
    const tenant = await server.call('POST', '/v1/tenants', { name: 'Other' }, { auth: OPERATOR_KEY });
    expect(tenant.status).toBe(201);
    const theirs = { auth: tenant.body.apiKey as string };
    expect((await server.call('GET', '/v1/webhook-endpoints', undefined, theirs)).body.items).toEqual([]);
    for (const [method, route] of [
      ['GET', '/v1/webhook-endpoints/shared-id'],
      ['DELETE', '/v1/webhook-endpoints/shared-id'],
      ['POST', '/v1/webhook-endpoints/shared-id/rotate'],
      ['POST', '/v1/webhook-endpoints/shared-id/test'],
    ] as const) {
      expect((await server.call(method, route, undefined, theirs)).status, `${method} ${route}`).toBe(404);
    }
    // The same id is theirs to create, with a secret of its own.
    const own = await server.call(
      'PUT',
      '/v1/webhook-endpoints/shared-id',
      { url: hook.url, events: ['message.dead'] },
      theirs,
    );
    expect(own.status).toBe(201);
    expect((await server.call('GET', '/v1/webhook-endpoints/shared-id')).body.events).toEqual([
      'message.sent',
    ]);
    await server.call('DELETE', '/v1/webhook-endpoints/shared-id', undefined, theirs);
  });
});

describe('webhook endpoint test pings', () => {
  it("answers 429 with Retry-After past 20 a minute for a tenant, and never for another tenant's", async () => {
    const tenant = await server.call('POST', '/v1/tenants', { name: 'Pinger' }, { auth: OPERATOR_KEY });
    const theirs = { auth: tenant.body.apiKey as string };
    const other = await server.call('POST', '/v1/tenants', { name: 'Bystander' }, { auth: OPERATOR_KEY });
    const bystander = { auth: other.body.apiKey as string };
    const hook = await receiver();
    for (const auth of [theirs, bystander]) {
      const put = await server.call(
        'PUT',
        '/v1/webhook-endpoints/pinged',
        { url: hook.url, events: ['message.sent'] },
        auth,
      );
      expect(put.status).toBe(201);
    }
    const ping = (auth: { auth: string }) =>
      server.call('POST', '/v1/webhook-endpoints/pinged/test', undefined, auth);
    for (let n = 0; n < 20; n++) expect((await ping(theirs)).status).toBe(202);
    const refused = await ping(theirs);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await ping(bystander)).status).toBe(202);
    // Every queued ping reaches the receiver (a slow answer may bring one twice) and the queue is
    // empty again before the receiver closes: the tests after this one wait for an empty queue.
    await waitFor(
      () => new Set(hook.received.map((request) => request.headers['webhook-id'])).size === 21,
      'the 21 pings',
      30_000,
    );
    await queueDrained();
  });
});

describe('webhook endpoint deliveries', () => {
  it('sends message.delivered (in-app) and message.sent (email) events that verify per Standard Webhooks', async () => {
    const hook = await receiver();
    const secret = await putEndpoint('app', hook.url, ['message.sent', 'message.delivered']);
    const eventId = await sendEvent('both', 'u-events');
    const requests = await hook.waitFor(2);
    const events = requests.map((request) => {
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['webhook-id']).toMatch(/^whmsg_/);
      return verify(secret, request);
    });
    const byType = Object.fromEntries(events.map((e) => [e.type, e]));
    expect(Object.keys(byType).sort()).toEqual(['message.delivered', 'message.sent']);
    expect(byType['message.delivered']).toMatchObject({
      data: { eventId, subscriberId: 'u-events', channel: 'in_app', status: 'delivered', workflow: 'both' },
    });
    expect(byType['message.sent']).toMatchObject({
      data: { eventId, subscriberId: 'u-events', channel: 'email', status: 'sent', provider: 'sandbox' },
    });
    for (const event of events) {
      expect(Date.parse(event.timestamp)).not.toBeNaN();
      const message = await server.call('GET', `/v1/messages/${event.data.messageId}`);
      expect(message.body.status).toBe(event.data.status);
    }
    await queueDrained();
    expect(hook.received).toHaveLength(2);
  });

  it('retries a failed delivery with the same webhook-id', async () => {
    const hook = await receiver({ script: [{ status: 503, headers: { 'retry-after': '1' } }] });
    const secret = await putEndpoint('flaky', hook.url, ['message.sent']);
    const test = await server.call('POST', '/v1/webhook-endpoints/flaky/test');
    expect(test.status).toBe(202);
    expect(test.body).toEqual({ webhookId: expect.stringMatching(/^whmsg_/), type: 'ping' });
    const [first, second] = await hook.waitFor(2);
    expect(first!.status).toBe(503);
    expect(second!.status).toBe(200);
    expect(first!.headers['webhook-id']).toBe(test.body.webhookId);
    expect(second!.headers['webhook-id']).toBe(test.body.webhookId);
    expect(second!.body).toBe(first!.body);
    expect(verify(secret, second!)).toMatchObject({ type: 'ping', data: { endpointId: 'flaky' } });
    await queueDrained();
    expect(hook.received).toHaveLength(2);
  });

  it('signs with both secrets during a rotation overlap', async () => {
    const hook = await receiver();
    const old = await putEndpoint('rotating', hook.url, ['message.sent']);
    const rotated = await server.call('POST', '/v1/webhook-endpoints/rotating/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const fresh = rotated.body.secret as string;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(old);
    const overlapEnds = Date.parse(rotated.body.previousSecretExpiresAt);
    expect(overlapEnds - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    expect(overlapEnds - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    expect((await server.call('GET', '/v1/webhook-endpoints/rotating')).body).not.toHaveProperty('secret');

    await server.call('POST', '/v1/webhook-endpoints/rotating/test');
    const [ping] = await hook.waitFor(1);
    expect(ping!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(verify(old, ping!).type).toBe('ping');
    expect(verify(fresh, ping!).type).toBe('ping');
    expect(() => verify('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ping!)).toThrow();

    // A second rotation drops the first secret: at most two sign at once.
    const third = (await server.call('POST', '/v1/webhook-endpoints/rotating/rotate')).body.secret as string;
    await server.call('POST', '/v1/webhook-endpoints/rotating/test');
    const [, next] = await hook.waitFor(2);
    expect(next!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(verify(third, next!).type).toBe('ping');
    expect(verify(fresh, next!).type).toBe('ping');
    expect(() => verify(old, next!)).toThrow();
  });

  it('disables the endpoint on 410 Gone, visible in GET; a PUT enables it again', async () => {
    const hook = await receiver({ defaultResponse: { status: 410 } });
    await putEndpoint('gone', hook.url, ['message.sent']);
    expect((await server.call('POST', '/v1/webhook-endpoints/gone/test')).status).toBe(202);
    await hook.waitFor(1);
    const disabled = await waitFor(async () => {
      const { body } = await server.call('GET', '/v1/webhook-endpoints/gone');
      return body.enabled === false ? body : null;
    }, 'the endpoint to be disabled');
    expect(disabled.disabledReason).toMatch(/410 Gone/);
    expect((await server.call('GET', '/v1/webhook-endpoints')).body.items[0]).toMatchObject({
      id: 'gone',
      enabled: false,
    });
    const refused = await server.call('POST', '/v1/webhook-endpoints/gone/test');
    expect(refused.status).toBe(409);
    // Events after the 410 are not sent.
    await sendEvent('hello', 'u-gone');
    await queueDrained();
    expect(hook.received).toHaveLength(1);

    hook.setDefaultResponse({ status: 200 });
    const enabled = await server.call('PUT', '/v1/webhook-endpoints/gone', {
      url: hook.url,
      events: ['message.sent'],
    });
    expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null });
    expect((await server.call('POST', '/v1/webhook-endpoints/gone/test')).status).toBe(202);
    await hook.waitFor(2);
  });

  it('stops deliveries to a deleted endpoint', async () => {
    const kept = await receiver();
    const deleted = await receiver();
    await putEndpoint('kept', kept.url, ['message.sent']);
    await putEndpoint('deleted', deleted.url, ['message.sent']);
    expect((await server.call('DELETE', '/v1/webhook-endpoints/deleted')).status).toBe(204);
    expect((await server.call('GET', '/v1/webhook-endpoints/deleted')).status).toBe(404);
    await sendEvent('hello', 'u-deleted');
    await kept.waitFor(1);
    await queueDrained();
    expect(deleted.received).toHaveLength(0);
  });

  it('tells endpoints about receipts (message.delivered, message.clicked); a receipt that changes nothing tells nothing', async () => {
    const hook = await receiver();
    const secret = await putEndpoint('receipts', hook.url, [
      'message.delivered',
      'message.read',
      'message.clicked',
    ]);
    const eventId = await sendEvent('hello', 'u-receipts');
    const email = await waitFor(async () => {
      const { body } = await server.call('GET', `/v1/messages?eventId=${eventId}`);
      return body.items[0]?.status === 'sent' ? body.items[0] : null;
    }, 'the email sent');
    const receipt = (status: string) =>
      server.call('POST', `/v1/messages/${email.messageId}/receipt`, { status });
    expect((await receipt('delivered')).body.status).toBe('delivered');
    expect((await receipt('clicked')).body.status).toBe('clicked');
    // Older than where the message stands: no change, no event.
    expect((await receipt('read')).body.status).toBe('clicked');
    await hook.waitFor(2);
    await queueDrained();
    const events = hook.received.map((request) => verify(secret, request));
    expect(events.map((e) => e.type).sort()).toEqual(['message.clicked', 'message.delivered']);
    for (const event of events)
      expect(event.data).toMatchObject({ messageId: email.messageId, eventId, channel: 'email' });
  });

  it('tells endpoints about the first click on an inbox item (message.clicked), not the next ones', async () => {
    const hook = await receiver();
    const secret = await putEndpoint('clicks', hook.url, ['message.clicked']);
    await sendEvent('both', 'u-clicks');
    const inApp = await waitFor(async () => {
      const { body } = await server.call('GET', '/v1/messages?subscriberId=u-clicks&channel=in_app');
      return body.items[0];
    }, 'the in-app message');
    const token = (await server.call('POST', '/v1/subscribers/u-clicks/token')).body.token as string;
    for (let i = 0; i < 2; i++) {
      const click = await server.call('POST', `/v1/inbox/${inApp.messageId}/click`, {}, { auth: token });
      expect(click.status).toBe(200);
    }
    await hook.waitFor(1);
    await queueDrained();
    const events = hook.received.map((request) => verify(secret, request));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'message.clicked',
      data: { messageId: inApp.messageId, channel: 'in_app', status: 'clicked' },
    });
  });

  it('tells endpoints about one-click unsubscribes (subscriber.unsubscribed) and inbox reads (message.read)', async () => {
    const hook = await receiver();
    const secret = await putEndpoint('consent', hook.url, ['subscriber.unsubscribed', 'message.read']);
    await sendEvent('both', 'u-consent');
    const inApp = await waitFor(async () => {
      const { body } = await server.call('GET', '/v1/messages?subscriberId=u-consent&channel=in_app');
      return body.items[0];
    }, 'the in-app message');
    const token = (await server.call('POST', '/v1/subscribers/u-consent/token')).body.token as string;
    const read = await server.call('POST', `/v1/inbox/${inApp.messageId}/read`, undefined, { auth: token });
    expect(read.status).toBe(200);
    // Reading again is no new read: no second event.
    await server.call('POST', `/v1/inbox/${inApp.messageId}/read`, undefined, { auth: token });

    const link = signUnsubscribeToken(server.tidings.keys.unsubscribeSigning, {
      tenantId: 'default',
      subscriberId: 'u-consent',
      scope: { workflow: 'both' },
    });
    const unsubscribed = await fetch(`${server.url}/v1/unsubscribe/${link}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(unsubscribed.status).toBe(200);
    await hook.waitFor(2);
    await queueDrained();
    const events = hook.received.map((request) => verify(secret, request));
    expect(events).toHaveLength(2);
    const byType = Object.fromEntries(events.map((e) => [e.type, e]));
    expect(byType['message.read']).toMatchObject({
      data: { messageId: inApp.messageId, subscriberId: 'u-consent', channel: 'in_app', status: 'read' },
    });
    expect(byType['subscriber.unsubscribed']).toMatchObject({
      data: { subscriberId: 'u-consent', channel: 'email', workflow: 'both' },
    });
  });

  it('tells endpoints of every item a read-all reads (message.read), over HTTP and the WebSocket alike', async () => {
    const hook = await receiver();
    const secret = await putEndpoint('read-all', hook.url, ['message.read']);
    for (const subscriberId of ['u-read-all', 'u-read-all', 'u-read-all-ws'])
      await sendEvent('both', subscriberId);
    const inAppOf = (subscriberId: string) =>
      waitFor(async () => {
        const { body } = await server.call('GET', `/v1/messages?subscriberId=${subscriberId}&channel=in_app`);
        return body.items.length === (subscriberId === 'u-read-all' ? 2 : 1) ? body.items : null;
      }, `the in-app messages of ${subscriberId}`);
    const items = [...(await inAppOf('u-read-all')), ...(await inAppOf('u-read-all-ws'))];
    const token = (await server.call('POST', '/v1/subscribers/u-read-all/token')).body.token as string;
    const readAll = await server.call('POST', '/v1/inbox/read-all', undefined, { auth: token });
    expect(readAll.body).toEqual({ updated: 2 });
    // Nothing left unread: no more events.
    await server.call('POST', '/v1/inbox/read-all', undefined, { auth: token });

    const wsToken = (await server.call('POST', '/v1/subscribers/u-read-all-ws/token')).body.token as string;
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/inbox/ws?token=${wsToken}`);
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'read-all' }));
    await hook.waitFor(3);
    socket.close();
    await queueDrained();
    const events = hook.received.map((request) => verify(secret, request));
    expect(events).toHaveLength(3);
    expect(events.map((e) => e.type)).toEqual(['message.read', 'message.read', 'message.read']);
    expect(new Set(events.map((e) => e.data.messageId))).toEqual(
      new Set(items.map((m: { messageId: string }) => m.messageId)),
    );
  });
});
