import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { LOOPBACK_TARGETS, privateDnsName } from '../../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../fakes/webhook-receiver.ts';
import { startWebPushFake, type WebPushFake } from '../../fakes/webpush.ts';
import { settledMessages } from '../../helpers/messages.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are read field by field and checked by assertions
type Json = any;

/**
 * API.md: "Every provider that talks HTTP accepts config.endpoint (base URL override: regional
 * endpoints, APNs sandbox, local test servers)". For `webhook` and `webpush` it replaces the origin
 * the URL names (its path a prefix), as it does for chat webhooks.
 */

const SECRET = `whsec_${Buffer.from('endpoint-override-signing-key').toString('base64')}`;
const vapid = webpush.generateVAPIDKeys();
const vapidCredentials = { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey };

let open: TestServer;
let strict: TestServer;
let receiver: WebhookReceiver;
let browsers: WebPushFake;

beforeAll(async () => {
  [open, strict, receiver, browsers] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startTestServer(),
    startWebhookReceiver(),
    startWebPushFake(),
  ]);
  for (const server of [open, strict]) {
    await server.call('PUT', '/v1/workflows/hook', {
      channels: [{ channel: 'webhook', template: { summary: 'Hello {{ data.n }}' } }],
    });
    await server.call('PUT', '/v1/workflows/web', {
      channels: [{ channel: 'webpush', template: { title: 'Hi', body: 'Push {{ data.n }}' } }],
    });
  }
});
afterAll(async () => {
  await Promise.all([open?.close(), strict?.close(), receiver?.close(), browsers?.close()]);
});

async function sendOne(server: TestServer, workflow: string, subscriberId: string, n: number): Promise<Json> {
  const event = await server.call('POST', '/v1/events', { workflow, to: [subscriberId], data: { n } });
  expect(event.status).toBe(202);
  const [message] = await settledMessages(server, [event.body.eventId], 1);
  return message;
}

const putHook = (server: TestServer, config: Record<string, unknown>) =>
  server.call('PUT', '/v1/integrations/hook', {
    channel: 'webhook',
    provider: 'webhook',
    config,
    credentials: { secret: SECRET },
  });

const putWebPush = (server: TestServer, config: Record<string, unknown>) =>
  server.call('PUT', '/v1/integrations/web', {
    channel: 'webpush',
    provider: 'webpush',
    config: { subject: 'mailto:ops@acme.test', ...config },
    credentials: vapidCredentials,
  });

describe('webhook config.endpoint', () => {
  it("posts to the endpoint's origin, its path a prefix, with the URL's path and query, signed as ever", async () => {
    receiver.reset();
    const url = 'https://hooks.acme.test/in?team=7';
    expect((await putHook(open, { url, endpoint: receiver.url })).status).toBe(200);
    expect((await sendOne(open, 'hook', 'ada', 1)).status).toBe('sent');
    expect((await putHook(open, { url, endpoint: `${receiver.url}relay/` })).status).toBe(200);
    expect((await sendOne(open, 'hook', 'ada', 2)).status).toBe('sent');

    const [first, second] = await receiver.waitFor(2);
    expect(first!.path).toBe('/in?team=7');
    expect(second!.path).toBe('/relay/in?team=7');
    for (const request of [first!, second!]) {
      expect(new Webhook(SECRET).verify(request.body, request.headers)).toMatchObject({ type: 'message' });
    }
    expect((second!.json() as Json).content).toEqual({ summary: 'Hello 2' });
  });

  it('holds the endpoint to the URL rules (422 naming config.endpoint) and the private-target rule (422 blocked_target)', async () => {
    const url = 'https://hooks.acme.test/in';
    const blocked = await putHook(strict, { url, endpoint: 'http://127.0.0.1:9' });
    expect(blocked.status).toBe(422);
    expect(blocked.body.error).toMatchObject({
      code: 'blocked_target',
      details: [{ path: 'config.endpoint' }],
    });
    for (const endpoint of [
      'ftp://relay.acme.test',
      'https://relay.acme.test/?q=1',
      'https://u:p@relay.acme.test',
    ]) {
      const refused = await putHook(strict, { url, endpoint });
      expect(refused.status).toBe(422);
      expect(refused.body.error.details.map((d: { path: string }) => d.path)).toEqual(['config.endpoint']);
    }
    expect((await strict.call('GET', '/v1/integrations/hook')).status).toBe(404);
  });

  it('refuses at send an endpoint whose name resolves to a private address (failed, blocked_target)', async (ctx) => {
    const name = await privateDnsName();
    if (!name) return ctx.skip('no host name here resolves to a private address only');
    receiver.reset();
    const endpoint = `http://${name}:${receiver.port}`;
    expect((await putHook(strict, { url: 'https://hooks.acme.test/in', endpoint })).status).toBe(200);
    expect(await sendOne(strict, 'hook', 'ada', 3)).toMatchObject({
      status: 'failed',
      reason: 'blocked_target',
    });
    expect(receiver.received).toHaveLength(0);
  });
});

describe('webpush config.endpoint', () => {
  /** A browser subscription of the fake, as if its push service were push.example.test. */
  const subscribe = () => {
    const browser = browsers.subscribe(vapid.publicKey);
    const path = new URL(browser.subscription.endpoint).pathname;
    return {
      ...browser,
      subscription: { ...browser.subscription, endpoint: `https://push.example.test${path}` },
    };
  };

  it("sends each push to the endpoint's origin with the subscription's path, VAPID-signed for that origin", async () => {
    expect((await putWebPush(open, { endpoint: browsers.url })).status).toBe(200);
    const browser = subscribe();
    const device = await open.call('PUT', '/v1/subscribers/bea/devices/firefox', {
      platform: 'webpush',
      subscription: browser.subscription,
    });
    expect(device.status).toBe(200);

    const message = await sendOne(open, 'web', 'bea', 4);
    expect(browsers.refusals).toEqual([]);
    expect(message.status).toBe('sent');
    // The fake checked the VAPID audience (its own origin) and decrypted the body.
    const received = browsers.received.filter((r) => r.subscriptionId === browser.id);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!.plaintext)).toMatchObject({ title: 'Hi', body: 'Push 4' });
  });

  it('holds the endpoint to the private-target rule at PUT (422 blocked_target) and at send', async (ctx) => {
    const blocked = await putWebPush(strict, { endpoint: 'http://127.0.0.1:9' });
    expect(blocked.status).toBe(422);
    expect(blocked.body.error).toMatchObject({
      code: 'blocked_target',
      details: [{ path: 'config.endpoint' }],
    });

    const name = await privateDnsName();
    if (!name) return ctx.skip('no host name here resolves to a private address only');
    const before = browsers.requests.length;
    expect(
      (await putWebPush(strict, { endpoint: `http://${name}:${new URL(browsers.url).port}` })).status,
    ).toBe(200);
    const device = await strict.call('PUT', '/v1/subscribers/cy/devices/firefox', {
      platform: 'webpush',
      subscription: subscribe().subscription,
    });
    expect(device.status).toBe(200);
    expect(await sendOne(strict, 'web', 'cy', 5)).toMatchObject({
      status: 'failed',
      reason: 'blocked_target',
    });
    expect(browsers.requests.length).toBe(before);
  });
});
