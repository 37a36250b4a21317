import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { apnsIdFor } from '../../src/channels/push/apns-payload.ts';
import { type ApnsFake, apnsKeyPair, startApnsFake } from '../fakes/apns.ts';
import { selfSignedCertificate } from '../fakes/certificates.ts';
import { type FcmFake, fcmError, startFcmFake } from '../fakes/fcm.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebPushFake, type WebPushFake } from '../fakes/webpush.ts';
import { callJson, cleanupChildren, type RunningChild, startChild, tempDataDir } from '../helpers/child.ts';
import { databaseEnv } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * Push end to end through the public API (issue 11): devices, integrations and workflows PUT over
 * HTTP, events POSTed, and what each provider's fake received compared with the message views.
 *
 * The server runs in a child process: the APNs fake (and the web-push fake, whose subscriptions
 * must be https URLs) use a self-signed certificate, and the adapters trust what Node's store
 * trusts, which takes NODE_EXTRA_CA_CERTS only when the process starts — as in production.
 */

const KEY = 'tdk_push_e2e_key_0123456789abcdef';
const APP = { teamId: 'TEAM123456', keyId: 'KEY1234567', bundleId: 'com.acme.shop' };
const apnsKeys = apnsKeyPair();
const vapid = webpush.generateVAPIDKeys();
const SETTLED = new Set(['sent', 'failed', 'suppressed', 'delivered', 'dead']);

const ADA_IPHONE = 'a1'.repeat(32);
const ADA_PIXEL = 'fcm-token:ada-pixel_0123456789';
const BO_IPHONE = 'b2'.repeat(32);
const CY_PIXEL = 'fcm-token:cy-pixel_0123456789';
const DI_IPHONE = 'd4'.repeat(32);
const EL_IPHONE = 'e5'.repeat(32);

/** The push template: every rich field a device maps, rendered from the event's data. */
const RICH = {
  title: 'Order {{ data.order }} shipped',
  body: 'Arrives {{ data.eta }}',
  badge: 'unread',
  collapseId: 'order-{{ data.order }}',
  data: '{"orderId": "{{ data.order }}", "kind": "shipping"}',
  sound: 'chime.caf',
  threadId: 'orders',
};

let apns: ApnsFake;
let fcm: FcmFake;
let browsers: WebPushFake;
let webPushTls: ReturnType<typeof selfSignedCertificate>;
let server: RunningChild;
let caDir: string;

const api = (method: string, route: string, body?: unknown) =>
  callJson(`${server.url}${route}`, method, KEY, body);

async function ok(method: string, route: string, body?: unknown): Promise<Json> {
  const res = await api(method, route, body);
  expect(res.status, `${method} ${route}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
  return res.body;
}

async function trigger(workflow: string, to: string, data: Record<string, unknown>): Promise<string> {
  return (await ok('POST', '/v1/events', { workflow, to: [to], data })).eventId;
}

/** The full views of an event's messages once there are `count` and every one has settled. */
async function settled(eventId: string, count: number): Promise<Json[]> {
  const event = await waitFor(
    async () => {
      const { body } = await api('GET', `/v1/events/${eventId}`);
      return body.messages?.length === count && body.messages.every((m: Json) => SETTLED.has(m.status))
        ? body
        : null;
    },
    `${count} settled messages of ${eventId}`,
    20_000,
  );
  return Promise.all(event.messages.map((m: Json) => ok('GET', `/v1/messages/${m.messageId}`)));
}

const device = async (subscriberId: string, deviceId: string): Promise<Json> =>
  (await ok('GET', `/v1/subscribers/${subscriberId}/devices`)).items.find(
    (d: Json) => d.deviceId === deviceId,
  );

beforeAll(async () => {
  [apns, fcm, browsers] = await Promise.all([
    startApnsFake({ ...APP, publicKey: apnsKeys.publicKey }),
    startFcmFake({ projectId: 'tidings-shop' }),
    (async () => {
      webPushTls = selfSignedCertificate();
      return startWebPushFake({ tls: webPushTls });
    })(),
  ]);
  caDir = tempDataDir('tidings-push-ca-');
  const caFile = path.join(caDir, 'fakes-ca.pem');
  writeFileSync(caFile, `${apns.ca}\n${webPushTls.cert}`);
  const dataDir = tempDataDir('tidings-push-');
  server = await startChild(
    {
      ...(await databaseEnv(dataDir)),
      TIDINGS_API_KEY: KEY,
      TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
      NODE_EXTRA_CA_CERTS: caFile,
    },
    // Start-up (TypeScript loading, the worker thread) is slow on a busy machine.
    { healthyWithinMs: 45_000 },
  );

  await ok('PUT', '/v1/integrations/apns-main', {
    channel: 'push',
    provider: 'apns',
    config: { ...APP, environment: 'sandbox', endpoint: apns.url },
    credentials: { privateKey: apnsKeys.privateKey },
  });
  await ok('PUT', '/v1/integrations/fcm-main', {
    channel: 'push',
    provider: 'fcm',
    config: { projectId: fcm.projectId, endpoint: fcm.url },
    credentials: { serviceAccount: fcm.serviceAccount },
  });
  await ok('PUT', '/v1/integrations/webpush-main', {
    channel: 'webpush',
    provider: 'webpush',
    config: { subject: 'mailto:ops@shop.example' },
    credentials: { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey },
  });
  await ok('PUT', '/v1/workflows/order-shipped', {
    channels: [
      { channel: 'in_app', template: { title: 'Shipped', body: 'Order {{ data.order }}' } },
      { channel: 'push', template: RICH },
      { channel: 'webpush', template: RICH },
    ],
  });
  await ok('PUT', '/v1/workflows/ping', {
    channels: [{ channel: 'push', template: { title: 'Ping {{ data.n }}', body: 'pong' } }],
  });
}, 90_000);

afterAll(async () => {
  await cleanupChildren();
  await Promise.all([apns?.close(), fcm?.close(), browsers?.close()]);
  if (webPushTls) rmSync(webPushTls.dir, { recursive: true, force: true });
});

describe('push end to end (APNs, FCM and Web Push fakes)', () => {
  it('sends each device exactly its own message, mapped, and shows provider ids and meta', async () => {
    const browser = browsers.subscribe(vapid.publicKey);
    await ok('PUT', '/v1/subscribers/ada/devices/iphone', { platform: 'apns', token: ADA_IPHONE });
    await ok('PUT', '/v1/subscribers/ada/devices/pixel', { platform: 'fcm', token: ADA_PIXEL });
    await ok('PUT', '/v1/subscribers/ada/devices/firefox', {
      platform: 'webpush',
      subscription: browser.subscription,
    });
    const [apnsBefore, fcmBefore, webBefore] = [
      apns.requests.length,
      fcm.requests.length,
      browsers.received.length,
    ];

    const eventId = await trigger('order-shipped', 'ada', { order: 'A-17', eta: 'Tuesday' });
    const messages = await settled(eventId, 4);
    const push = messages.filter((m) => m.channel === 'push');
    const byDevice = Object.fromEntries(push.map((m) => [m.meta.deviceId, m]));
    const web = messages.find((m) => m.channel === 'webpush');
    expect(messages.find((m) => m.channel === 'in_app')).toMatchObject({ status: 'delivered' });

    // APNs: one request, to the iPhone's token, with Apple's headers and the mapped payload.
    const apnsRequests = apns.requests.slice(apnsBefore);
    expect(apnsRequests).toHaveLength(1);
    const [toIphone] = apnsRequests;
    expect(toIphone!.path).toBe(`/3/device/${ADA_IPHONE}`);
    expect(toIphone!.headers).toMatchObject({
      'apns-topic': APP.bundleId,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-collapse-id': 'order-A-17',
      'apns-id': apnsIdFor(byDevice.iphone.messageId),
    });
    expect(JSON.parse(toIphone!.body)).toEqual({
      orderId: 'A-17',
      kind: 'shipping',
      // The in-app row of the same event is written before any push: the badge counts it.
      aps: {
        alert: { title: 'Order A-17 shipped', body: 'Arrives Tuesday' },
        badge: 1,
        sound: 'chime.caf',
        'thread-id': 'orders',
      },
    });
    expect(byDevice.iphone).toMatchObject({
      status: 'sent',
      provider: 'apns-main',
      providerMessageId: apnsIdFor(byDevice.iphone.messageId),
      meta: { deviceId: 'iphone', collapseId: 'order-A-17' },
    });

    // FCM: one messages:send, to the Pixel's token.
    const fcmRequests = fcm.requests.slice(fcmBefore);
    expect(fcmRequests).toHaveLength(1);
    const sent = JSON.parse(fcmRequests[0]!.body).message;
    expect(sent).toEqual({
      token: ADA_PIXEL,
      notification: { title: 'Order A-17 shipped', body: 'Arrives Tuesday' },
      data: { orderId: 'A-17', kind: 'shipping' },
      android: {
        priority: 'high',
        collapse_key: 'order-A-17',
        notification: { sound: 'chime.caf', tag: 'order-A-17', notification_count: 1 },
      },
      apns: {
        headers: { 'apns-priority': '10', 'apns-push-type': 'alert', 'apns-collapse-id': 'order-A-17' },
        payload: { aps: { sound: 'chime.caf', badge: 1, 'thread-id': 'orders' } },
      },
    });
    expect(byDevice.pixel).toMatchObject({
      status: 'sent',
      provider: 'fcm-main',
      providerMessageId: expect.stringMatching(/^projects\/tidings-shop\/messages\/.+/),
      meta: { deviceId: 'pixel', collapseId: 'order-A-17' },
    });

    // Web Push: the browser decrypts exactly the rendered payload.
    expect(browsers.refusals).toEqual([]);
    const received = browsers.received.slice(webBefore);
    expect(received).toHaveLength(1);
    expect(received[0]!.subscriptionId).toBe(browser.id);
    expect(JSON.parse(received[0]!.plaintext)).toEqual({
      messageId: web.messageId,
      title: 'Order A-17 shipped',
      body: 'Arrives Tuesday',
      data: { orderId: 'A-17', kind: 'shipping' },
      sound: 'chime.caf',
      threadId: 'orders',
      collapseId: 'order-A-17',
      badge: 1,
    });
    expect(received[0]!.headers.topic).toBe('order-A-17');
    expect(web).toMatchObject({
      status: 'sent',
      provider: 'webpush-main',
      providerMessageId: expect.stringContaining(`/message/${browser.id}-`),
      meta: { deviceId: 'firefox', collapseId: 'order-A-17' },
    });
    // The timeline says who took it.
    expect(byDevice.iphone.timeline.slice(-2)).toEqual([
      expect.objectContaining({ status: 'sending', detail: 'attempt 1 of 8 via apns-main' }),
      expect.objectContaining({ status: 'sent', detail: expect.stringContaining('apns-main accepted') }),
    ]);
  });

  it('deactivates an APNs token answered 410 Unregistered, and sends nothing to it afterwards', async () => {
    await ok('PUT', '/v1/subscribers/bo/devices/iphone', { platform: 'apns', token: BO_IPHONE });
    apns.answerFor(BO_IPHONE, { status: 410, reason: 'Unregistered' });
    const before = apns.requests.length;

    const [first] = await settled(await trigger('ping', 'bo', { n: 1 }), 1);
    expect(first).toMatchObject({
      channel: 'push',
      status: 'failed',
      reason: 'bad_address',
      provider: 'apns-main',
      meta: { deviceId: 'iphone' },
    });
    expect(first.timeline.at(-1).detail).toContain('Unregistered');
    expect(await device('bo', 'iphone')).toMatchObject({
      active: false,
      reason: 'unregistered',
      deactivatedAt: expect.any(String),
    });
    expect(apns.requests.length - before).toBe(1);

    const [next] = await settled(await trigger('ping', 'bo', { n: 2 }), 1);
    expect(next).toMatchObject({ channel: 'push', status: 'suppressed', reason: 'no_device' });
    expect(apns.requests.length - before).toBe(1);
  });

  it('deactivates an FCM token answered UNREGISTERED, and sends nothing to it afterwards', async () => {
    await ok('PUT', '/v1/subscribers/cy/devices/pixel', { platform: 'fcm', token: CY_PIXEL });
    fcm.failNext(fcmError(404, 'NOT_FOUND', 'UNREGISTERED', 'Requested entity was not found.'));
    const before = fcm.requests.length;

    const [first] = await settled(await trigger('ping', 'cy', { n: 1 }), 1);
    expect(first).toMatchObject({
      channel: 'push',
      status: 'failed',
      reason: 'bad_address',
      provider: 'fcm-main',
      meta: { deviceId: 'pixel' },
    });
    expect(fcm.requests.slice(before).map((r) => JSON.parse(r.body).message.token)).toEqual([CY_PIXEL]);
    expect(await device('cy', 'pixel')).toMatchObject({
      active: false,
      reason: 'unregistered',
      deactivatedAt: expect.any(String),
    });

    const [next] = await settled(await trigger('ping', 'cy', { n: 2 }), 1);
    expect(next).toMatchObject({ channel: 'push', status: 'suppressed', reason: 'no_device' });
    expect(fcm.requests.length - before).toBe(1);
  });

  it('takes a badge written as a JSON number (API.md: a number, or "unread") and shows it', async () => {
    const template = { title: 'Inbox', body: 'New mail', badge: 3 };
    await ok('PUT', '/v1/workflows/badge-count', {
      channels: [
        { channel: 'push', template },
        { channel: 'webpush', template },
      ],
    });
    const browser = browsers.subscribe(vapid.publicKey);
    await ok('PUT', '/v1/subscribers/di/devices/iphone', { platform: 'apns', token: DI_IPHONE });
    await ok('PUT', '/v1/subscribers/di/devices/firefox', {
      platform: 'webpush',
      subscription: browser.subscription,
    });
    const [apnsBefore, webBefore] = [apns.requests.length, browsers.received.length];

    const messages = await settled(await trigger('badge-count', 'di', {}), 2);
    expect(messages.map((m) => m.status)).toEqual(['sent', 'sent']);
    const toIphone = apns.requests.slice(apnsBefore).find((r) => r.path === `/3/device/${DI_IPHONE}`);
    expect(JSON.parse(toIphone!.body).aps).toMatchObject({ badge: 3 });
    const received = browsers.received.slice(webBefore).filter((r) => r.subscriptionId === browser.id);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!.plaintext)).toMatchObject({ badge: 3 });
  });

  it('takes data written as a JSON object (API.md: `data` (JSON)), each value rendered as one JSON string', async () => {
    const template = {
      title: 'Order',
      body: 'Shipped',
      data: { orderId: '{{ data.id }}', note: 'for {{ data.who }}', kind: 'order', n: 3 },
    };
    await ok('PUT', '/v1/workflows/data-object', {
      channels: [
        { channel: 'push', template },
        { channel: 'webpush', template },
      ],
    });
    const browser = browsers.subscribe(vapid.publicKey);
    await ok('PUT', '/v1/subscribers/el/devices/iphone', { platform: 'apns', token: EL_IPHONE });
    await ok('PUT', '/v1/subscribers/el/devices/firefox', {
      platform: 'webpush',
      subscription: browser.subscription,
    });
    const [apnsBefore, webBefore] = [apns.requests.length, browsers.received.length];

    // Values that would break JSON text rendered in place: a quote, a backslash, a newline.
    const id = 'A-"17"\\x';
    const who = 'Zoë\nline two';
    const messages = await settled(await trigger('data-object', 'el', { id, who }), 2);
    expect(messages.map((m) => m.status)).toEqual(['sent', 'sent']);
    const expected = { orderId: id, note: `for ${who}`, kind: 'order', n: 3 };
    const toIphone = apns.requests.slice(apnsBefore).find((r) => r.path === `/3/device/${EL_IPHONE}`);
    expect(JSON.parse(toIphone!.body)).toMatchObject(expected);
    const received = browsers.received.slice(webBefore).filter((r) => r.subscriptionId === browser.id);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!.plaintext).data).toEqual(expected);
  });

  it('refuses literal push fields no provider takes, naming each, at the PUT', async () => {
    const response = await api('PUT', '/v1/workflows/bad-literals', {
      channels: [
        {
          channel: 'push',
          template: { title: 'T', interruptionLevel: 'loud', badge: 'many', data: '[1, 2]' },
          locales: { fr: { title: 'T', badge: '-1' } },
        },
        {
          channel: 'webpush',
          template: { title: 'T', interruptionLevel: '{{ data.level }}', badge: 'unread' },
        },
      ],
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details.map((d: Json) => d.path).sort()).toEqual([
      'channels[0].locales.fr.badge',
      'channels[0].template.badge',
      'channels[0].template.data',
      'channels[0].template.interruptionLevel',
    ]);
    expect((await api('GET', '/v1/workflows/bad-literals')).status).toBe(404);
  });

  it('refuses data nested past 32 levels with a 400 naming it, as text or as an object, however deep', async () => {
    const nested = (depth: number) => `${'{"a":'.repeat(depth)}"{{ data.x }}"${'}'.repeat(depth)}`;
    // Bodies written by hand: this process could not stringify an object 10,000 deep either.
    const bodies = [40, 10_000].flatMap((depth) => [JSON.stringify(nested(depth)), nested(depth)]);
    for (const data of bodies) {
      const response = await fetch(`${server.url}/v1/workflows/deep-data`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: `{"channels":[{"channel":"push","template":{"title":"T","data":${data}}}]}`,
      });
      expect(response.status, data.slice(0, 20)).toBe(400);
      const answer = await response.json();
      expect(answer.error.details[0].path).toBe('channels[0].template.data');
    }
  });
});
