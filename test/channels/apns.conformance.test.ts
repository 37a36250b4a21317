import { verify } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { expect } from 'vitest';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { createApnsProvider } from '../../src/channels/push/apns.ts';
import { apnsIdFor } from '../../src/channels/push/apns-payload.ts';
import { type ApnsFake, apnsKeyPair, startApnsFake } from '../fakes/apns.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { describeConformance } from './conformance.ts';

const keys = apnsKeyPair();
const APP = { teamId: 'TEAM123456', keyId: 'KEY1234567', bundleId: 'com.acme.app' };
const DEVICE_TOKEN = 'a1'.repeat(32);

function pushMessage(): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01APNS',
    eventId: 'evt_01APNS',
    workflow: 'order-shipped',
    channel: 'push',
    subscriber: { id: 'sub_1', email: null, phone: null, locale: null, timezone: null },
    content: { title: 'Shipped', body: 'Your order is on its way', data: '{"orderId":"A-17"}' },
    data: {},
    device: { id: 'dev_1', platform: 'apns', token: DEVICE_TOKEN },
    attempt: 1,
  };
}

describeConformance<ApnsFake>({
  provider: 'apns',
  startFake: () => startApnsFake({ ...APP, publicKey: keys.publicKey }),
  build: (fake) =>
    createApnsProvider(
      { ...APP, environment: 'sandbox', endpoint: fake.url },
      { privateKey: keys.privateKey },
      loopbackContext(),
      { ca: fake.ca },
    ),
  message: pushMessage,
  checkAccepted(request, outcome) {
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/3/device/${DEVICE_TOKEN}`);
    expect(request.headers).toMatchObject({
      ':scheme': 'https',
      'apns-topic': 'com.acme.app',
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-id': apnsIdFor('msg_01APNS'),
      'content-type': 'application/json',
    });
    expect(request.headers['apns-collapse-id']).toBeUndefined();
    const expiration = Number(request.headers['apns-expiration']);
    expect(Math.abs(expiration - (Date.now() / 1000 + 86_400))).toBeLessThan(60);
    const jwt = request.headers.authorization!.replace(/^bearer /, '');
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'ES256', kid: 'KEY1234567' });
    const [header, claims, signature] = jwt.split('.') as [string, string, string];
    const signed = Buffer.from(`${header}.${claims}`);
    const es256 = { key: keys.publicKey, dsaEncoding: 'ieee-p1363' as const };
    expect(verify('sha256', signed, es256, Buffer.from(signature, 'base64url'))).toBe(true);
    const payload = decodeJwt(jwt);
    expect(Object.keys(payload).sort()).toEqual(['iat', 'iss']);
    expect(payload.iss).toBe('TEAM123456');
    expect(JSON.parse(request.body)).toEqual({
      orderId: 'A-17',
      aps: { alert: { title: 'Shipped', body: 'Your order is on its way' } },
    });
    expect(outcome).toEqual({
      kind: 'accepted',
      providerMessageId: apnsIdFor('msg_01APNS'),
      detail: 'APNs 200',
      meta: { deviceId: 'dev_1' },
    });
  },
  errors: [
    {
      name: '410 Unregistered',
      arrange: (fake) => fake.answerNext({ status: 410, reason: 'Unregistered' }),
      expect: { kind: 'bad_address', deactivate: 'unregistered' },
    },
    {
      name: '410 ExpiredToken',
      arrange: (fake) => fake.answerNext({ status: 410, reason: 'ExpiredToken' }),
      expect: { kind: 'bad_address', deactivate: 'expired' },
    },
    {
      name: '400 BadDeviceToken',
      arrange: (fake) => fake.answerNext({ status: 400, reason: 'BadDeviceToken' }),
      expect: { kind: 'bad_address', deactivate: 'bad_token' },
    },
    {
      name: '400 DeviceTokenNotForTopic',
      arrange: (fake) => fake.answerNext({ status: 400, reason: 'DeviceTokenNotForTopic' }),
      expect: { kind: 'bad_address', deactivate: 'bad_token' },
    },
    {
      name: '400 BadCollapseId',
      arrange: (fake) => fake.answerNext({ status: 400, reason: 'BadCollapseId' }),
      expect: { kind: 'permanent' },
    },
    {
      name: '403 InvalidProviderToken',
      arrange: (fake) => fake.answerNext({ status: 403, reason: 'InvalidProviderToken' }),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: '403 ExpiredProviderToken once (a new token, sent again)',
      arrange: (fake) => fake.answerNext({ status: 403, reason: 'ExpiredProviderToken' }),
      expect: { kind: 'accepted' },
    },
    {
      name: '403 ExpiredProviderToken twice',
      arrange: (fake) =>
        fake.answerNext(
          { status: 403, reason: 'ExpiredProviderToken' },
          { status: 403, reason: 'ExpiredProviderToken' },
        ),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: '404 BadPath',
      arrange: (fake) => fake.answerNext({ status: 404, reason: 'BadPath' }),
      expect: { kind: 'permanent' },
    },
    {
      name: '413 PayloadTooLarge',
      arrange: (fake) => fake.answerNext({ status: 413, reason: 'PayloadTooLarge' }),
      expect: { kind: 'permanent' },
    },
    {
      name: '429 TooManyRequests with Retry-After',
      arrange: (fake) =>
        fake.answerNext({ status: 429, reason: 'TooManyRequests', headers: { 'retry-after': '30' } }),
      expect: { kind: 'retryable', retryAfterMs: 30_000 },
    },
    {
      name: '429 TooManyProviderTokenUpdates',
      arrange: (fake) => fake.answerNext({ status: 429, reason: 'TooManyProviderTokenUpdates' }),
      expect: { kind: 'retryable' },
    },
    {
      name: '500 InternalServerError',
      arrange: (fake) => fake.answerNext({ status: 500, reason: 'InternalServerError' }),
      expect: { kind: 'retryable' },
    },
    {
      name: '503 ServiceUnavailable',
      arrange: (fake) => fake.answerNext({ status: 503, reason: 'ServiceUnavailable' }),
      expect: { kind: 'retryable' },
    },
  ],
});
