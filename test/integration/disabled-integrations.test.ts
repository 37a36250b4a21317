import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apnsKeyPair } from '../fakes/apns.ts';
import { type FcmFake, startFcmFake } from '../fakes/fcm.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * API.md: a channel without any integration goes to the sandbox; "once a channel has an
 * integration, only integrations send it". A channel whose integrations are all disabled is not
 * one without integrations: its sends wait (retried) for one to be enabled again.
 */

let server: TestServer;
let receiver: WebhookReceiver;
let fcm: FcmFake;

const hook = (enabled: boolean) =>
  server.call('PUT', '/v1/integrations/only-hook', {
    channel: 'webhook',
    provider: 'webhook',
    config: { url: receiver.url },
    credentials: { secret: 'whsec_0123456789abcdef0123456789' },
    enabled,
  });

beforeAll(async () => {
  [server, receiver, fcm] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startWebhookReceiver(),
    startFcmFake(),
  ]);
  const workflow = await server.call('PUT', '/v1/workflows/ping', {
    channels: [{ channel: 'webhook', template: { body: 'ping {{ data.n }}' } }],
  });
  expect(workflow.status).toBe(200);
});

afterAll(async () => {
  await Promise.all([server?.close(), receiver?.close(), fcm?.close()]);
});

describe('a channel whose every integration is disabled', () => {
  it('is not sent by the sandbox: its send waits, and goes out once an integration is enabled', async () => {
    expect((await hook(false)).status).toBe(200);
    const sent = await server.call('POST', '/v1/events', { workflow: 'ping', to: ['ada'], data: { n: 1 } });
    expect(sent.status).toBe(202);
    const waiting = (await waitFor(async () => {
      const message = (await server.call('GET', `/v1/events/${sent.body.eventId}`)).body.messages?.[0];
      return message?.timeline.some((e: Json) => /integration of the tenant is disabled/.test(e.detail ?? ''))
        ? message
        : null;
    }, 'the send found every integration disabled')) as Json;
    expect(waiting.status).toBe('queued');
    expect(waiting.provider).toBeNull();
    expect((await server.call('GET', '/v1/sandbox/messages')).body.items).toEqual([]);

    expect((await hook(true)).status).toBe(200);
    const delivered = (await waitFor(async () => {
      const message = (await server.call('GET', `/v1/messages/${waiting.messageId}`)).body;
      return message.status === 'sent' ? message : null;
    }, 'sent once enabled')) as Json;
    expect(delivered.provider).toBe('only-hook');
    expect(receiver.received.length).toBe(1);
  });

  it("holds a device's push while only disabled integrations serve its platform, as when all are", async () => {
    const apns = await server.call('PUT', '/v1/integrations/apns-off', {
      channel: 'push',
      provider: 'apns',
      config: {
        teamId: 'TEAM123456',
        keyId: 'KEY1234567',
        bundleId: 'com.example.app',
        environment: 'sandbox',
      },
      credentials: { privateKey: apnsKeyPair().privateKey },
      enabled: false,
    });
    expect(apns.status, JSON.stringify(apns.body)).toBe(200);
    const fcmOn = await server.call('PUT', '/v1/integrations/fcm-on', {
      channel: 'push',
      provider: 'fcm',
      config: { projectId: fcm.projectId, endpoint: fcm.url },
      credentials: { serviceAccount: fcm.serviceAccount },
    });
    expect(fcmOn.status, JSON.stringify(fcmOn.body)).toBe(200);
    expect(
      (
        await server.call('PUT', '/v1/workflows/buzz', {
          channels: [{ channel: 'push', template: { title: 'Hi' } }],
        })
      ).status,
    ).toBe(200);
    const device = await server.call('PUT', '/v1/subscribers/ios_user/devices/phone', {
      platform: 'apns',
      token: 'a'.repeat(64),
    });
    expect(device.status, JSON.stringify(device.body)).toBeLessThan(300);
    const sent = await server.call('POST', '/v1/events', { workflow: 'buzz', to: ['ios_user'] });
    expect(sent.status).toBe(202);
    const waiting = (await waitFor(async () => {
      const message = (await server.call('GET', `/v1/events/${sent.body.eventId}`)).body.messages?.[0];
      return message?.timeline.some((e: Json) =>
        /every push integration serving apns devices is disabled/.test(e.detail ?? ''),
      )
        ? message
        : null;
    }, 'the send found the apns integration disabled')) as Json;
    expect(waiting.status).toBe('queued');
  });
});
