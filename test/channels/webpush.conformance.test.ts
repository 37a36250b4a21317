import { afterAll, expect } from 'vitest';
import webpush from 'web-push';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { createWebPushProvider } from '../../src/channels/webpush/webpush.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { type FakeSubscription, startWebPushFake, type WebPushFake } from '../fakes/webpush.ts';
import { describeConformance } from './conformance.ts';

const vapid = webpush.generateVAPIDKeys();
const context = loopbackContext();
afterAll(() => context.outbound.close());

let fake: WebPushFake;
let browser: FakeSubscription;

function webPushMessage(): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01WEBPUSH',
    eventId: 'evt_01WEBPUSH',
    workflow: 'order-shipped',
    channel: 'webpush',
    subscriber: { id: 'sub_1', email: null, phone: null, locale: null, timezone: null },
    content: {
      title: 'Shipped',
      body: 'Your order is on its way — ünïcode ✓',
      data: '{"orderId":"A-17","items":[{"sku":"x","qty":2}]}',
      image: 'https://shop.example/a17.png',
      collapseId: 'order A-17',
      badge: '4',
    },
    data: {},
    device: { id: 'dev_browser', platform: 'webpush', token: '', subscription: browser.subscription },
    attempt: 1,
  };
}

describeConformance<WebPushFake>({
  provider: 'webpush',
  startFake: async () => {
    fake = await startWebPushFake();
    browser = fake.subscribe(vapid.publicKey);
    return fake;
  },
  build: () =>
    createWebPushProvider(
      { subject: 'mailto:ops@tidings.example' },
      { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey },
      context,
    ),
  message: webPushMessage,
  checkAccepted(request, outcome) {
    expect(fake.refusals).toEqual([]);
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/push/${browser.id}`);
    expect(request.headers).toMatchObject({
      'content-encoding': 'aes128gcm',
      'content-type': 'application/octet-stream',
      ttl: '2419200',
      urgency: 'normal',
      authorization: expect.stringMatching(new RegExp(`^vapid t=[^,]+, k=${vapid.publicKey}$`)),
    });
    // "order A-17" has a space: not a Topic as it is, so it is hashed to 32 URL-safe characters.
    expect(request.headers.topic).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const push = fake.received.at(-1);
    expect(push?.subscriptionId).toBe(browser.id);
    // Exactly the rendered payload, byte for byte, after the fake decrypted it.
    expect(push?.plaintext).toBe(
      JSON.stringify({
        messageId: 'msg_01WEBPUSH',
        title: 'Shipped',
        body: 'Your order is on its way — ünïcode ✓',
        data: { orderId: 'A-17', items: [{ sku: 'x', qty: 2 }] },
        image: 'https://shop.example/a17.png',
        collapseId: 'order A-17',
        badge: 4,
      }),
    );
    expect(outcome).toMatchObject({
      kind: 'accepted',
      providerMessageId: expect.stringMatching(new RegExp(`/message/${browser.id}-\\d+$`)),
      meta: { deviceId: 'dev_browser', collapseId: 'order A-17' },
    });
  },
  errors: [
    {
      name: '404 (expired subscription, RFC 8030 §7.3) → deactivate expired',
      arrange: (f) => f.failNext({ status: 404 }),
      expect: { kind: 'bad_address', deactivate: 'expired' },
    },
    {
      name: '410 Gone (unsubscribed) → deactivate unregistered',
      arrange: (f) => f.failNext({ status: 410 }),
      expect: { kind: 'bad_address', deactivate: 'unregistered' },
    },
    {
      name: '429 with Retry-After → retryable',
      arrange: (f) => f.failNext({ status: 429, headers: { 'retry-after': '12' } }),
      expect: { kind: 'retryable', retryAfterMs: 12_000 },
    },
    {
      name: '503 with Retry-After → retryable',
      arrange: (f) => f.failNext({ status: 503, headers: { 'retry-after': '3' } }),
      expect: { kind: 'retryable', retryAfterMs: 3_000 },
    },
    {
      name: '500 → retryable',
      arrange: (f) => f.failNext({ status: 500 }),
      expect: { kind: 'retryable' },
    },
    {
      name: '403 (VAPID refused) → permanent',
      arrange: (f) => f.failNext({ status: 403 }),
      expect: { kind: 'permanent' },
    },
    {
      name: '413 (payload too large) → permanent',
      arrange: (f) => f.failNext({ status: 413 }),
      expect: { kind: 'permanent' },
    },
    {
      name: '400 → permanent',
      arrange: (f) => f.failNext({ status: 400 }),
      expect: { kind: 'permanent' },
    },
  ],
});
