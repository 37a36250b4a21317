import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/security/api-keys.ts';
import type { MessageRecord } from '../../src/shared/model.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { runSends } from '../helpers/send-handler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

const APNS_TOKEN = `${'0123456789abcdef'.repeat(4)}`;
const FCM_TOKEN = 'fcm-registration:APA91bH_example-token_0123456789';
/** A PushSubscription's keys of the right decoded lengths: p256dh an uncompressed P-256 point, auth 16 bytes. */
const KEYS = {
  p256dh: Buffer.concat([Buffer.from([0x04]), Buffer.alloc(64, 7)]).toString('base64url'),
  auth: Buffer.alloc(16, 9).toString('base64url'),
};
const subscription = (endpoint = 'https://push.example.test/send/abcd1234') => ({ endpoint, keys: KEYS });
const SETTLED = new Set(['sent', 'failed', 'suppressed', 'rate_limited', 'dead', 'delivered']);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const workflow = await server.call('PUT', '/v1/workflows/login-alert', {
    channels: [
      { channel: 'push', template: { title: 'New login', body: 'From {{ data.city }}', badge: 'unread' } },
      { channel: 'webpush', template: { title: 'New login', body: 'From {{ data.city }}' } },
    ],
  });
  expect(workflow.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

/** The full views of an event's messages once there are `count` and each has settled. */
async function settled(target: TestServer, eventId: string, count: number, auth?: string): Promise<Json[]> {
  const options = auth ? { auth } : undefined;
  const event = await waitFor(async () => {
    const { body } = await target.call('GET', `/v1/events/${eventId}`, undefined, options);
    return body.messages?.length === count && body.messages.every((m: Json) => SETTLED.has(m.status))
      ? body
      : null;
  }, `${count} settled messages of ${eventId}`);
  return Promise.all(
    event.messages.map(
      async (m: Json) => (await target.call('GET', `/v1/messages/${m.messageId}`, undefined, options)).body,
    ),
  );
}

async function trigger(target: TestServer, to: string, auth?: string): Promise<string> {
  const res = await target.call(
    'POST',
    '/v1/events',
    { workflow: 'login-alert', to: [to], data: { city: 'Lyon' } },
    auth ? { auth } : undefined,
  );
  expect(res.status).toBe(202);
  return res.body.eventId;
}

describe('devices API', () => {
  it('creates the subscriber, lists devices with a hint of the token only, reactivates on re-PUT and deletes', async () => {
    const put = await server.call('PUT', '/v1/subscribers/dana/devices/iphone', {
      platform: 'apns',
      token: APNS_TOKEN.toUpperCase(),
    });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({
      deviceId: 'iphone',
      platform: 'apns',
      active: true,
      deactivatedAt: null,
      reason: null,
      tokenHint: '…cdef',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect((await server.call('GET', '/v1/subscribers/dana')).status).toBe(200);
    await server.call('PUT', '/v1/subscribers/dana/devices/pixel', { platform: 'fcm', token: FCM_TOKEN });
    await server.call('PUT', '/v1/subscribers/dana/devices/firefox', {
      platform: 'webpush',
      subscription: { ...subscription(), expirationTime: null },
    });
    const list = await server.call('GET', '/v1/subscribers/dana/devices');
    expect(list.status).toBe(200);
    expect(list.body.nextCursor).toBeNull();
    expect(list.body.items.map((d: Json) => [d.deviceId, d.platform, d.tokenHint])).toEqual([
      ['iphone', 'apns', '…cdef'],
      ['pixel', 'fcm', '…6789'],
      ['firefox', 'webpush', 'https://push.example.test/…1234'],
    ]);
    const text = JSON.stringify(list.body);
    for (const secret of [APNS_TOKEN, FCM_TOKEN, KEYS.p256dh, KEYS.auth, 'abcd1234'])
      expect(text).not.toContain(secret);

    const again = await server.call('PUT', '/v1/subscribers/dana/devices/iphone', {
      platform: 'apns',
      token: APNS_TOKEN,
    });
    expect(again.body.createdAt).toBe(put.body.createdAt);
    expect((await server.call('DELETE', '/v1/subscribers/dana/devices/pixel')).status).toBe(204);
    const gone = await server.call('DELETE', '/v1/subscribers/dana/devices/pixel');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
    const after = await server.call('GET', '/v1/subscribers/dana/devices');
    expect(after.body.items.map((d: Json) => d.deviceId)).toEqual(['iphone', 'firefox']);
    expect((await server.call('GET', '/v1/subscribers/nobody-here/devices')).status).toBe(404);
  });

  it.each([
    ['an APNs token that is not hex', { platform: 'apns', token: 'z'.repeat(64) }, 'token'],
    ['an APNs token too short', { platform: 'apns', token: 'ab'.repeat(10) }, 'token'],
    ['an FCM token with a space', { platform: 'fcm', token: 'two words' }, 'token'],
    ['an FCM token longer than 4096', { platform: 'fcm', token: 'x'.repeat(4097) }, 'token'],
    ['a token-less APNs device', { platform: 'apns' }, 'token'],
    [
      'a subscription on an FCM device',
      { platform: 'fcm', token: FCM_TOKEN, subscription: subscription() },
      'subscription',
    ],
    [
      'a token on a web push device',
      { platform: 'webpush', token: FCM_TOKEN, subscription: subscription() },
      'token',
    ],
    ['a web push device without subscription', { platform: 'webpush' }, 'subscription'],
    [
      'an http endpoint',
      { platform: 'webpush', subscription: subscription('http://push.example.test/x') },
      'subscription.endpoint',
    ],
    [
      'an endpoint that is no URL',
      { platform: 'webpush', subscription: subscription('not a url') },
      'subscription.endpoint',
    ],
    [
      'an endpoint with a line break (a URL parser would drop it)',
      { platform: 'webpush', subscription: subscription('https://push.example.test/send/\r\nX: y') },
      'subscription.endpoint',
    ],
    [
      'an endpoint over 2048 characters',
      { platform: 'webpush', subscription: subscription(`https://push.example.test/${'a'.repeat(2030)}`) },
      'subscription.endpoint',
    ],
    [
      'a p256dh key of 64 bytes',
      {
        platform: 'webpush',
        subscription: {
          ...subscription(),
          keys: { ...KEYS, p256dh: Buffer.alloc(64, 4).toString('base64url') },
        },
      },
      'subscription.keys.p256dh',
    ],
    [
      'an auth secret of 12 bytes',
      {
        platform: 'webpush',
        subscription: { ...subscription(), keys: { ...KEYS, auth: Buffer.alloc(12).toString('base64url') } },
      },
      'subscription.keys.auth',
    ],
    [
      'keys in standard base64',
      {
        platform: 'webpush',
        subscription: { ...subscription(), keys: { ...KEYS, auth: '+/+/+/+/+/+/+/+/+/+/+w==' } },
      },
      'subscription.keys.auth',
    ],
    ['an unknown platform', { platform: 'blackberry', token: 'abc' }, 'platform'],
    ['an unknown field', { platform: 'fcm', token: FCM_TOKEN, bundleId: 'x' }, 'bundleId'],
  ])('refuses %s with a 400 naming the field, storing nothing', async (_, body, path) => {
    const res = await server.call('PUT', '/v1/subscribers/vic/devices/d1', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.map((d: Json) => d.path)).toContain(path);
    expect((await server.call('GET', '/v1/subscribers/vic/devices')).status).toBe(404);
  });

  it('refuses a device id that is no id', async () => {
    const res = await server.call('PUT', `/v1/subscribers/vic/devices/${'d'.repeat(101)}`, {
      platform: 'fcm',
      token: FCM_TOKEN,
    });
    expect(res.status).toBe(400);
  });

  it('never returns a short token or endpoint whole in its hint (device view and export)', async () => {
    // Found by the hostile-input sweep: "…" + the last 4 characters was the whole of a 3-character
    // FCM token, and the push service + the last 4 characters the whole of a short endpoint.
    const shortToken = 'q7Z';
    const shortPath = '/q/8';
    await server.call('PUT', '/v1/subscribers/shorty/devices/pixel', { platform: 'fcm', token: shortToken });
    await server.call('PUT', '/v1/subscribers/shorty/devices/browser', {
      platform: 'webpush',
      subscription: subscription(`https://push.example.test${shortPath}`),
    });
    const list = await server.call('GET', '/v1/subscribers/shorty/devices');
    expect(list.body.items.map((d: Json) => [d.deviceId, d.tokenHint])).toEqual([
      ['pixel', '…'],
      ['browser', 'https://push.example.test/…'],
    ]);
    const exported = await server.call('GET', '/v1/subscribers/shorty/export');
    expect(exported.body.devices.map((d: Json) => d.tokenHint)).toEqual(['…', 'https://push.example.test/…']);
    for (const view of [list.body, exported.body.devices]) {
      expect(JSON.stringify(view)).not.toContain(shortToken);
      expect(JSON.stringify(view)).not.toContain(shortPath.slice(1));
    }
  });

  it('holds web push endpoints to the private-target rule (422 blocked_target naming the field)', async () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '169.254.169.254', '10.1.2.3']) {
      const res = await server.call('PUT', '/v1/subscribers/eve/devices/browser', {
        platform: 'webpush',
        subscription: subscription(`https://${host}/push/1`),
      });
      expect(res.status, host).toBe(422);
      expect(res.body.error.code).toBe('blocked_target');
      expect(res.body.error.details[0].path).toBe('subscription.endpoint');
    }
    expect((await server.call('GET', '/v1/subscribers/eve/devices')).status).toBe(404);
  });

  it('accepts a loopback endpoint where TIDINGS_ALLOW_PRIVATE_TARGETS lists it', async () => {
    const open = await startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS });
    try {
      const ok = await open.call('PUT', '/v1/subscribers/eve/devices/browser', {
        platform: 'webpush',
        subscription: subscription('https://127.0.0.1:8443/push/1'),
      });
      expect(ok.status).toBe(200);
      const stillBlocked = await open.call('PUT', '/v1/subscribers/eve/devices/browser', {
        platform: 'webpush',
        subscription: subscription('https://10.1.2.3/push/1'),
      });
      expect(stillBlocked.status).toBe(422);
    } finally {
      await open.close();
    }
  });

  it('moves a token PUT under another subscriber of the tenant there (a phone that changed hands)', async () => {
    const token = 'f'.repeat(64);
    await server.call('PUT', '/v1/subscribers/seller/devices/old-phone', { platform: 'apns', token });
    const moved = await server.call('PUT', '/v1/subscribers/buyer/devices/new-phone', {
      platform: 'apns',
      token,
    });
    expect(moved.status).toBe(200);
    expect((await server.call('GET', '/v1/subscribers/seller/devices')).body.items).toEqual([]);
    expect(
      (await server.call('GET', '/v1/subscribers/buyer/devices')).body.items.map((d: Json) => d.deviceId),
    ).toEqual(['new-phone']);
  });

  it('lets a subscriber hold at most 100 devices', async () => {
    for (let n = 0; n < 100; n++) {
      const res = await server.call('PUT', `/v1/subscribers/collector/devices/d${n}`, {
        platform: 'fcm',
        token: `${FCM_TOKEN}-${n}`,
      });
      expect(res.status).toBe(200);
    }
    const over = await server.call('PUT', '/v1/subscribers/collector/devices/d100', {
      platform: 'fcm',
      token: `${FCM_TOKEN}-100`,
    });
    expect(over.status).toBe(422);
    expect(over.body.error.details[0].path).toBe('deviceId');
    // Replacing one of the hundred is fine.
    const replaced = await server.call('PUT', '/v1/subscribers/collector/devices/d7', {
      platform: 'fcm',
      token: 'new',
    });
    expect(replaced.status).toBe(200);
    expect((await server.call('GET', '/v1/subscribers/collector/devices')).body.items).toHaveLength(100);
  });
});

describe('push to devices', () => {
  it('sends one push message per active device and one web push per subscription, with meta.deviceId', async () => {
    await server.call('PUT', '/v1/subscribers/pat/devices/iphone', {
      platform: 'apns',
      token: 'a'.repeat(64),
    });
    await server.call('PUT', '/v1/subscribers/pat/devices/pixel', {
      platform: 'fcm',
      token: `${FCM_TOKEN}-pat`,
    });
    await server.call('PUT', '/v1/subscribers/pat/devices/edge', {
      platform: 'webpush',
      subscription: subscription('https://push.example.test/pat'),
    });
    const eventId = await trigger(server, 'pat');
    const messages = await settled(server, eventId, 3);
    const byDevice = Object.fromEntries(messages.map((m: Json) => [m.meta.deviceId, m]));
    expect(Object.keys(byDevice).sort()).toEqual(['edge', 'iphone', 'pixel']);
    expect(byDevice.iphone).toMatchObject({
      channel: 'push',
      status: 'sent',
      provider: 'sandbox',
      providerMessageId: null,
      meta: { deviceId: 'iphone' },
      content: { title: 'New login', body: 'From Lyon', badge: 'unread' },
    });
    expect(byDevice.pixel).toMatchObject({ channel: 'push', status: 'sent', meta: { deviceId: 'pixel' } });
    expect(byDevice.edge).toMatchObject({ channel: 'webpush', status: 'sent', meta: { deviceId: 'edge' } });

    const captures = (await server.call('GET', '/v1/sandbox/messages?limit=500')).body.items.filter(
      (c: Json) => messages.some((m: Json) => m.messageId === c.messageId),
    );
    expect(captures.map((c: Json) => [c.channel, c.to]).sort()).toEqual([
      ['push', 'iphone'],
      ['push', 'pixel'],
      ['webpush', 'edge'],
    ]);
    // The list shows the same fields.
    const listed = await server.call('GET', `/v1/messages?eventId=${eventId}`);
    expect(listed.body.items.map((m: Json) => m.meta.deviceId).sort()).toEqual(['edge', 'iphone', 'pixel']);
    expect(listed.body.items.every((m: Json) => m.providerMessageId === null)).toBe(true);
  });

  it('suppresses one message per channel with reason no_device when the subscriber has none active', async () => {
    await server.call('PUT', '/v1/subscribers/quinn/devices/old', {
      platform: 'apns',
      token: 'b'.repeat(64),
    });
    await server.tidings.store.deactivateDevice(
      {
        tenantId: 'default',
        subscriberId: 'quinn',
        id: 'old',
        platform: 'apns',
        token: 'b'.repeat(64),
        subscription: null,
      },
      'unregistered',
      Date.now(),
    );
    const listed = (await server.call('GET', '/v1/subscribers/quinn/devices')).body.items;
    expect(listed).toEqual([
      expect.objectContaining({ deviceId: 'old', active: false, reason: 'unregistered' }),
    ]);
    expect(listed[0].deactivatedAt).toEqual(expect.any(String));

    const eventId = await trigger(server, 'quinn');
    const messages = await settled(server, eventId, 2);
    for (const channel of ['push', 'webpush']) {
      const message = messages.find((m: Json) => m.channel === channel);
      expect(message).toMatchObject({
        status: 'suppressed',
        reason: 'no_device',
        meta: {},
        providerMessageId: null,
      });
      expect(message.timeline.at(-1)).toMatchObject({ status: 'suppressed' });
    }
    // A new PUT of the device makes it active again, and the next event reaches it.
    await server.call('PUT', '/v1/subscribers/quinn/devices/old', {
      platform: 'apns',
      token: 'b'.repeat(64),
    });
    const next = await settled(server, await trigger(server, 'quinn'), 2);
    expect(next.find((m: Json) => m.channel === 'push')).toMatchObject({
      status: 'sent',
      meta: { deviceId: 'old' },
    });
  });

  it('counts the pushes of one event to a person’s devices once against a per-subscriber+channel limit', async () => {
    const workflow = await server.call('PUT', '/v1/workflows/once-an-hour', {
      channels: [{ channel: 'push', template: { title: 'Hi', body: 'there' } }],
      rateLimit: [{ per: 'subscriber+channel', limit: 1, window: '1h' }],
    });
    expect(workflow.status).toBe(200);
    await server.call('PUT', '/v1/subscribers/uma/devices/phone', {
      platform: 'apns',
      token: '1'.repeat(64),
    });
    await server.call('PUT', '/v1/subscribers/uma/devices/tablet', {
      platform: 'fcm',
      token: `${FCM_TOKEN}-uma`,
    });
    const send = async () => {
      const res = await server.call('POST', '/v1/events', { workflow: 'once-an-hour', to: ['uma'] });
      return settled(server, res.body.eventId, 2);
    };
    expect((await send()).map((m: Json) => m.status)).toEqual(['sent', 'sent']);
    expect((await send()).map((m: Json) => [m.status, m.reason])).toEqual([
      ['rate_limited', 'rate_limited'],
      ['rate_limited', 'rate_limited'],
    ]);
  });

  it('fails a push to a platform none of the tenant’s push integrations serves (reason no_address)', async () => {
    // A tenant of its own, so no other test's integrations are cached for it.
    const key = 'tdk_devices_routing_key_0123456789';
    const store = server.tidings.store;
    await store.ensureTenant('ten_routing', 'Routing');
    await addTenantKey(store, 'ten_routing', key, 'default');
    await server.call(
      'PUT',
      '/v1/workflows/login-alert',
      { channels: [{ channel: 'push', template: { title: 'New login', body: 'hi' } }] },
      { auth: key },
    );
    // The tenant's only push integration is of a provider no APNs device can use. (The API refuses
    // a webhook integration on the push channel; here it stands in for an `fcm` one.)
    await store.putIntegration(
      {
        tenantId: 'ten_routing',
        id: 'not-apns',
        channel: 'push',
        provider: 'webhook',
        priority: 1,
        config: { url: 'https://hooks.example.test/push' },
        sealedCredentials: null,
        enabled: true,
      },
      Date.now(),
    );
    await server.call(
      'PUT',
      '/v1/subscribers/ray/devices/iphone',
      { platform: 'apns', token: 'c'.repeat(64) },
      { auth: key },
    );
    const [message] = await settled(server, await trigger(server, 'ray', key), 1, key);
    expect(message).toMatchObject({ status: 'failed', reason: 'no_address', meta: { deviceId: 'iphone' } });
    expect(message.timeline.at(-1).detail).toBe(
      'no push integration serves apns devices (the tenant has not-apns (webhook))',
    );
  });
});

describe('sending to a device that went away', () => {
  it('suppresses (no_device) a message whose device was deactivated or deleted after it was queued', async () => {
    const store = server.tidings.store;
    await server.call('PUT', '/v1/subscribers/sam/devices/watch', {
      platform: 'apns',
      token: 'd'.repeat(64),
    });
    await server.call('PUT', '/v1/subscribers/sam/devices/tablet', {
      platform: 'fcm',
      token: `${FCM_TOKEN}-sam`,
    });
    // Queued messages, as deliver writes them (without a send job: this test runs the send itself).
    const queued = (id: string, deviceId: string): MessageRecord => ({
      tenantId: 'default',
      id,
      eventId: `evt_${id}`,
      subscriberId: 'sam',
      channel: 'push',
      workflow: 'login-alert',
      status: 'queued',
      provider: null,
      content: { title: 'Hi', body: 'There' },
      data: {},
      timeline: [{ at: new Date().toISOString(), status: 'queued' }],
      eventAt: Date.now(),
      createdAt: Date.now(),
      updatedAt: Date.now(),
      seenAt: null,
      readAt: null,
      archivedAt: null,
      lastError: null,
      reason: null,
      deviceId,
      providerMessageId: null,
      meta: { deviceId },
    });
    await store.createMessages([
      { record: queued('msg_gone_1', 'watch'), followUp: null },
      { record: queued('msg_gone_2', 'tablet'), followUp: null },
      { record: queued('msg_gone_3', 'watch'), followUp: null },
    ]);
    await store.deactivateDevice(
      {
        tenantId: 'default',
        subscriberId: 'sam',
        id: 'watch',
        platform: 'apns',
        token: 'd'.repeat(64),
        subscription: null,
      },
      'expired',
      Date.now(),
    );
    await server.call('DELETE', '/v1/subscribers/sam/devices/tablet');
    await runSends(server, ['msg_gone_1', 'msg_gone_2']);
    const watch = (await server.call('GET', '/v1/messages/msg_gone_1')).body;
    expect(watch).toMatchObject({ status: 'suppressed', reason: 'no_device' });
    expect(watch.timeline.at(-1).detail).toBe(
      'device watch was deactivated (expired) since the message was queued',
    );
    const tablet = (await server.call('GET', '/v1/messages/msg_gone_2')).body;
    expect(tablet).toMatchObject({ status: 'suppressed', reason: 'no_device' });
    expect(tablet.timeline.at(-1).detail).toBe('device tablet was removed since the message was queued');
    // Untouched until its own send runs.
    expect((await server.call('GET', '/v1/messages/msg_gone_3')).body.status).toBe('queued');
  });
});
