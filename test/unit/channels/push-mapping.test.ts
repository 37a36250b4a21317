import { describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../../src/channels/port.ts';
import { classifyFcmResponse, readGoogleError } from '../../../src/channels/push/fcm-errors.ts';
import { FCM_MAX_PAYLOAD_BYTES, toFcmMessage } from '../../../src/channels/push/fcm-message.ts';
import {
  classifyWebPushResponse,
  toWebPush,
  WEB_PUSH_MAX_PLAINTEXT_BYTES,
  webPushTopic,
} from '../../../src/channels/webpush/webpush-payload.ts';

const fcm = (content: Record<string, string>, unreadCount?: number) =>
  toFcmMessage({ token: 'tok', content, unreadCount });

describe('toFcmMessage', () => {
  it('maps every rich field onto notification, data, android and apns', () => {
    const mapped = fcm(
      {
        title: 'Hi',
        body: 'There',
        data: '{"a":"1","n":2,"ok":true,"o":{"x":[1]},"nil":null}',
        image: 'https://cdn.example/i.png',
        sound: 'chime.caf',
        badge: '7',
        threadId: 'chat-9',
        category: 'REPLY',
        interruptionLevel: 'time-sensitive',
        collapseId: 'chat-9-latest',
      },
      99,
    );
    expect(mapped).toEqual({
      ok: true,
      collapseId: 'chat-9-latest',
      bytes: expect.any(Number),
      message: {
        token: 'tok',
        notification: { title: 'Hi', body: 'There', image: 'https://cdn.example/i.png' },
        data: { a: '1', n: '2', ok: 'true', o: '{"x":[1]}', nil: 'null' },
        android: {
          priority: 'high',
          collapse_key: 'chat-9-latest',
          notification: { sound: 'chime.caf', tag: 'chat-9-latest', notification_count: 7 },
        },
        apns: {
          headers: { 'apns-priority': '10', 'apns-push-type': 'alert', 'apns-collapse-id': 'chat-9-latest' },
          payload: {
            aps: {
              'mutable-content': 1,
              sound: 'chime.caf',
              badge: 7,
              'thread-id': 'chat-9',
              category: 'REPLY',
              'interruption-level': 'time-sensitive',
            },
          },
        },
      },
    });
  });

  it('keeps every data key as sent, __proto__ too', () => {
    const mapped = fcm({ title: 't', body: 'b', data: '{"__proto__":"x","a":"1"}' });
    expect(mapped).toMatchObject({ ok: true });
    if (!mapped.ok) return;
    expect(Object.hasOwn(mapped.message.data!, '__proto__')).toBe(true);
    expect(JSON.stringify(mapped.message.data)).toBe('{"__proto__":"x","a":"1"}');
  });

  it('sends a silent push as data only: no notification, background APNs push, normal priority', () => {
    const mapped = fcm({
      title: 'ignored',
      body: 'ignored',
      silent: 'true',
      data: '{"sync":"inbox"}',
      badge: '2',
    });
    expect(mapped).toMatchObject({ ok: true });
    if (!mapped.ok) return;
    expect(mapped.message.notification).toBeUndefined();
    expect(mapped.message.android).toEqual({ priority: 'normal' });
    expect(mapped.message.data).toEqual({ sync: 'inbox' });
    expect(mapped.message.apns).toEqual({
      headers: { 'apns-priority': '5', 'apns-push-type': 'background' },
      payload: { aps: { 'content-available': 1, badge: 2 } },
    });
  });

  it('lowers the priority of a passive notification', () => {
    const mapped = fcm({ title: 'FYI', interruptionLevel: 'passive' });
    expect(mapped).toMatchObject({
      ok: true,
      message: { android: { priority: 'normal' }, apns: { headers: { 'apns-priority': '5' } } },
    });
  });

  it('fills badge "unread" from the unread count, and leaves it out when there is none', () => {
    expect(fcm({ title: 't', badge: 'unread' }, 12)).toMatchObject({
      ok: true,
      message: {
        android: { notification: { notification_count: 12 } },
        apns: { payload: { aps: { badge: 12 } } },
      },
    });
    expect(fcm({ title: 't', badge: 'unread' }, 0)).toMatchObject({
      message: { apns: { payload: { aps: { badge: 0 } } } },
    });
    const none = fcm({ title: 't', badge: 'unread' });
    expect(none.ok && none.message.apns.payload.aps.badge).toBeUndefined();
  });

  it('leaves out fields the template did not render', () => {
    const mapped = fcm({ title: 'Only a title', body: '', image: '' });
    expect(mapped).toEqual({
      ok: true,
      bytes: expect.any(Number),
      message: {
        token: 'tok',
        notification: { title: 'Only a title' },
        android: { priority: 'high' },
        apns: { headers: { 'apns-priority': '10', 'apns-push-type': 'alert' }, payload: { aps: {} } },
      },
    });
  });

  it.each([
    [{ data: 'not json' }, /data is not JSON/],
    [{ data: '[1,2]' }, /data must render a JSON object/],
    [{ data: '{"from":"me"}' }, /data key "from" is reserved/],
    [{ data: '{"google.x":"1"}' }, /reserved/],
    [{ badge: 'lots' }, /badge must be a whole number/],
    [{ badge: '-1' }, /badge must be a whole number/],
    [{ interruptionLevel: 'urgent' }, /interruptionLevel must be one of/],
    [{ collapseId: 'x'.repeat(65) }, /collapseId is 65 bytes; APNs accepts at most 64/],
  ])('refuses %o for good', (content, reason) => {
    const mapped = fcm({ title: 't', ...content });
    expect(mapped.ok).toBe(false);
    expect(!mapped.ok && mapped.reason).toMatch(reason);
  });

  it('checks the 4096-byte limit after mapping and names the size', () => {
    // The body alone fits; the mapped payload (body + data + the rest) does not.
    const data = JSON.stringify({ blob: 'd'.repeat(2100) });
    const mapped = fcm({ title: 't', body: 'b'.repeat(2000), data });
    expect(mapped.ok).toBe(false);
    expect(!mapped.ok && mapped.reason).toMatch(
      /the FCM payload is \d{4} bytes after mapping; FCM allows at most 4096/,
    );
    const fits = fcm({ title: 't', body: 'b'.repeat(3000) });
    expect(fits.ok && fits.bytes).toBeLessThanOrEqual(FCM_MAX_PAYLOAD_BYTES);
  });

  it('counts bytes, not characters', () => {
    const mapped = fcm({ title: 't', body: '€'.repeat(1400) });
    expect(mapped.ok).toBe(false);
  });
});

describe('classifyFcmResponse', () => {
  const google = (status: number, canonical: string, errorCode: string | null, message: string, extra = {}) =>
    readGoogleError(
      JSON.stringify({
        error: {
          code: status,
          message,
          status: canonical,
          details: [
            ...(errorCode
              ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }]
              : []),
            ...(Object.keys(extra).length ? [extra] : []),
          ],
        },
      }),
    );

  it.each([
    [
      404,
      google(404, 'NOT_FOUND', 'UNREGISTERED', 'Requested entity was not found.'),
      'bad_address',
      'unregistered',
    ],
    [
      403,
      google(403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH', 'SenderId mismatch'),
      'bad_address',
      'bad_token',
    ],
    [
      400,
      google(
        400,
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
        'The registration token is not a valid FCM registration token',
      ),
      'bad_address',
      'bad_token',
    ],
    [
      400,
      google(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'Invalid registration token', {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: 'message.token' }],
      }),
      'bad_address',
      'bad_token',
    ],
    [
      400,
      google(400, 'INVALID_ARGUMENT', null, 'Invalid JSON payload received. Unknown name "priority"', {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: 'message' }],
      }),
      'permanent',
      undefined,
    ],
    [400, google(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'Message too big'), 'permanent', undefined],
    [429, google(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED', 'Quota exceeded'), 'retryable', undefined],
    [503, google(503, 'UNAVAILABLE', 'UNAVAILABLE', 'Unavailable'), 'retryable', undefined],
    [500, google(500, 'INTERNAL', 'INTERNAL', 'Internal'), 'retryable', undefined],
    [502, readGoogleError('<html>Bad Gateway</html>'), 'retryable', undefined],
    // Our credentials refused: the integration is broken ('integration': retryable, failing over).
    [401, google(401, 'UNAUTHENTICATED', 'THIRD_PARTY_AUTH_ERROR', 'APNs auth'), 'integration', undefined],
    [401, google(401, 'UNAUTHENTICATED', null, 'Request had invalid credentials'), 'integration', undefined],
    [403, google(403, 'PERMISSION_DENIED', null, 'Permission denied'), 'integration', undefined],
    [404, google(404, 'NOT_FOUND', null, 'Project not found'), 'permanent', undefined],
  ])('HTTP %i %o → %s', (status, error, kind, deactivate) => {
    const outcome = classifyFcmResponse(status, error, null, 0);
    expect(outcome.kind === 'retryable' && outcome.integrationFailed ? 'integration' : outcome.kind).toBe(
      kind,
    );
    if (deactivate) expect(outcome).toMatchObject({ deactivate });
    else expect(outcome).not.toHaveProperty('deactivate');
  });

  it('names the status, the FCM code and Google message, and reads Retry-After', () => {
    const outcome = classifyFcmResponse(
      429,
      google(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED', 'Quota exceeded for device'),
      '20',
      0,
    );
    expect(outcome).toEqual({
      kind: 'retryable',
      reason: 'HTTP 429 Too Many Requests QUOTA_EXCEEDED: Quota exceeded for device',
      retryAfterMs: 20_000,
    });
  });
});

function webMessage(content: Record<string, string>, unreadCount?: number): OutboundMessage {
  return {
    tenantId: 't',
    messageId: 'msg_1',
    eventId: 'evt_1',
    workflow: 'w',
    channel: 'webpush',
    subscriber: { id: 's', email: null, phone: null, locale: null, timezone: null },
    content,
    data: {},
    unreadCount,
  };
}

describe('toWebPush', () => {
  it('carries title, body and data always, and the rendered rich fields typed', () => {
    const delivery = toWebPush(
      webMessage({ title: 'Hi', body: 'B', badge: 'unread', silent: 'true', threadId: 'th' }, 5),
    );
    expect(delivery).toEqual({
      payload: {
        messageId: 'msg_1',
        title: 'Hi',
        body: 'B',
        data: {},
        threadId: 'th',
        badge: 5,
        silent: true,
      },
      text: JSON.stringify({
        messageId: 'msg_1',
        title: 'Hi',
        body: 'B',
        data: {},
        threadId: 'th',
        badge: 5,
        silent: true,
      }),
      urgency: 'low',
    });
  });

  it.each([
    [{}, 'normal'],
    [{ interruptionLevel: 'active' }, 'normal'],
    [{ interruptionLevel: 'passive' }, 'low'],
    [{ interruptionLevel: 'time-sensitive' }, 'high'],
    [{ interruptionLevel: 'critical' }, 'high'],
    [{ silent: 'true' }, 'low'],
  ])('%o → Urgency %s', (content, urgency) => {
    expect(toWebPush(webMessage({ title: 't', ...content }))).toMatchObject({ urgency });
  });

  it.each([
    [{ data: '{' }, /data is not JSON/],
    [{ data: '"text"' }, /data must render a JSON object/],
    [{ badge: 'x' }, /badge must be a whole number/],
    [{ interruptionLevel: 'loud' }, /interruptionLevel/],
    [
      { body: 'x'.repeat(WEB_PUSH_MAX_PLAINTEXT_BYTES) },
      /the web push payload is \d+ bytes; one encrypted record holds at most 3993/,
    ],
  ])('refuses %o', (content, error) => {
    const delivery = toWebPush(webMessage({ title: 't', ...content }));
    expect('error' in delivery && delivery.error).toMatch(error);
  });

  it('makes a Topic from the collapse id: as it is when it is one, else a stable hash', () => {
    expect(webPushTopic('order-17_a')).toBe('order-17_a');
    const hashed = webPushTopic('order 17 / shipped');
    expect(hashed).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(webPushTopic('order 17 / shipped')).toBe(hashed);
    expect(webPushTopic('x'.repeat(33))).not.toBe('x'.repeat(32));
  });
});

describe('classifyWebPushResponse', () => {
  it.each([
    [201, 'accepted', undefined],
    [404, 'bad_address', 'expired'],
    [410, 'bad_address', 'unregistered'],
    [408, 'retryable', undefined],
    [429, 'retryable', undefined],
    [500, 'retryable', undefined],
    [503, 'retryable', undefined],
    [400, 'permanent', undefined],
    [401, 'permanent', undefined],
    [403, 'permanent', undefined],
    [413, 'permanent', undefined],
    [301, 'permanent', undefined],
  ])('HTTP %i → %s', (status, kind, deactivate) => {
    const outcome = classifyWebPushResponse(status, null, 0);
    expect(outcome.kind).toBe(kind);
    if (deactivate) expect(outcome).toMatchObject({ deactivate });
  });
});
