import { afterAll, expect } from 'vitest';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { createFcmProvider } from '../../src/channels/push/fcm.ts';
import { type FcmFake, fcmError, startFcmFake } from '../fakes/fcm.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { describeConformance } from './conformance.ts';

const TOKEN = 'fcm-registration-token:APA91bH-device-1';

function pushMessage(): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01FCM',
    eventId: 'evt_01FCM',
    workflow: 'order-shipped',
    channel: 'push',
    subscriber: { id: 'sub_1', email: null, phone: null, locale: null, timezone: null },
    content: {
      title: 'Shipped',
      body: 'Your order is on its way',
      data: '{"orderId":"A-17","items":2}',
      collapseId: 'order-A-17',
      badge: 'unread',
    },
    data: {},
    device: { id: 'dev_android', platform: 'fcm', token: TOKEN },
    unreadCount: 3,
    attempt: 1,
  };
}

const context = loopbackContext();
afterAll(() => context.outbound.close());

describeConformance<FcmFake>({
  provider: 'fcm',
  startFake: () => startFcmFake(),
  build: (fake) =>
    createFcmProvider(
      { projectId: fake.projectId, endpoint: fake.url },
      { serviceAccount: JSON.stringify(fake.serviceAccount) },
      context,
    ),
  message: pushMessage,
  checkAccepted(request, outcome) {
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/projects/tidings-test/messages:send');
    expect(request.headers['content-type']).toMatch(/^application\/json/);
    expect(request.headers.authorization).toMatch(/^Bearer ya29\.fake-/);
    expect(JSON.parse(request.body)).toEqual({
      message: {
        token: TOKEN,
        notification: { title: 'Shipped', body: 'Your order is on its way' },
        data: { orderId: 'A-17', items: '2' },
        android: {
          priority: 'high',
          collapse_key: 'order-A-17',
          notification: { tag: 'order-A-17', notification_count: 3 },
        },
        apns: {
          headers: { 'apns-priority': '10', 'apns-push-type': 'alert', 'apns-collapse-id': 'order-A-17' },
          payload: { aps: { badge: 3 } },
        },
      },
    });
    expect(outcome).toMatchObject({
      kind: 'accepted',
      providerMessageId: expect.stringMatching(/^projects\/tidings-test\/messages\//),
      meta: { deviceId: 'dev_android', collapseId: 'order-A-17' },
    });
  },
  errors: [
    {
      name: 'UNREGISTERED (404) → deactivate unregistered',
      arrange: (fake) =>
        fake.failNext(fcmError(404, 'NOT_FOUND', 'UNREGISTERED', 'Requested entity was not found.')),
      expect: { kind: 'bad_address', deactivate: 'unregistered' },
    },
    {
      name: 'INVALID_ARGUMENT about the registration token → deactivate bad_token',
      arrange: (fake) =>
        fake.failNext(
          fcmError(
            400,
            'INVALID_ARGUMENT',
            'INVALID_ARGUMENT',
            'The registration token is not a valid FCM registration token',
          ),
        ),
      expect: { kind: 'bad_address', deactivate: 'bad_token' },
    },
    {
      name: 'INVALID_ARGUMENT about the payload → permanent',
      arrange: (fake) =>
        fake.failNext({
          status: 400,
          body: {
            error: {
              code: 400,
              message: "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
              status: 'INVALID_ARGUMENT',
              details: [
                {
                  '@type': 'type.googleapis.com/google.rpc.BadRequest',
                  fieldViolations: [{ field: 'message.data[0].value', description: 'Invalid value' }],
                },
              ],
            },
          },
        }),
      expect: { kind: 'permanent' },
    },
    {
      name: 'SENDER_ID_MISMATCH (403) → deactivate bad_token',
      arrange: (fake) =>
        fake.failNext(fcmError(403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH', 'SenderId mismatch')),
      expect: { kind: 'bad_address', deactivate: 'bad_token' },
    },
    {
      name: 'QUOTA_EXCEEDED (429) with Retry-After → retryable',
      arrange: (fake) =>
        fake.failNext(
          fcmError(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED', 'Quota exceeded.', { 'retry-after': '30' }),
        ),
      expect: { kind: 'retryable', retryAfterMs: 30_000 },
    },
    {
      name: 'UNAVAILABLE (503) with Retry-After → retryable',
      arrange: (fake) =>
        fake.failNext(
          fcmError(503, 'UNAVAILABLE', 'UNAVAILABLE', 'The service is currently unavailable.', {
            'retry-after': '7',
          }),
        ),
      expect: { kind: 'retryable', retryAfterMs: 7_000 },
    },
    {
      name: 'INTERNAL (500) → retryable',
      arrange: (fake) => fake.failNext(fcmError(500, 'INTERNAL', 'INTERNAL', 'Internal error encountered.')),
      expect: { kind: 'retryable' },
    },
    {
      name: 'THIRD_PARTY_AUTH_ERROR (401) → the integration is broken (fail over), not a token refresh',
      arrange: (fake) =>
        fake.failNext(
          fcmError(
            401,
            'UNAUTHENTICATED',
            'THIRD_PARTY_AUTH_ERROR',
            'Auth error from APNS or Web Push Service',
          ),
        ),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: 'a revoked access token (401) → renewed once, then accepted',
      arrange: (fake) => fake.revokeTokens(),
      expect: { kind: 'accepted' },
    },
    {
      name: '401 again after the renewal → the integration is broken (fail over)',
      arrange: (fake) =>
        fake.failNext(
          fcmError(401, 'UNAUTHENTICATED', null, 'Request had invalid authentication credentials.'),
          fcmError(401, 'UNAUTHENTICATED', null, 'Request had invalid authentication credentials.'),
        ),
      expect: { kind: 'retryable', integrationFailed: true },
    },
  ],
});
