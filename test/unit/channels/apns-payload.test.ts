import { describe, expect, it } from 'vitest';
import { apnsReason, classifyApnsAnswer } from '../../../src/channels/push/apns.ts';
import {
  apnsIdFor,
  isDeviceToken,
  MAX_PAYLOAD_BYTES,
  mapPush,
} from '../../../src/channels/push/apns-payload.ts';

/** The mapped payload as an object, failing the test when mapping refused. */
function mapped(content: Record<string, string>, unreadCount?: number) {
  const result = mapPush(content, unreadCount);
  if (!result.ok) throw new Error(`expected a payload, got: ${result.reason}`);
  return { ...result.parts, body: JSON.parse(result.parts.payload) as Record<string, unknown> };
}

function refused(content: Record<string, string>, unreadCount?: number): string {
  const result = mapPush(content, unreadCount);
  if (result.ok) throw new Error(`expected a refusal, got ${result.parts.payload}`);
  return result.reason;
}

describe('mapPush', () => {
  it('maps title and body onto aps.alert, as an alert push at priority 10', () => {
    expect(mapped({ title: 'Hi', body: 'There' })).toEqual({
      payload: '{"aps":{"alert":{"title":"Hi","body":"There"}}}',
      body: { aps: { alert: { title: 'Hi', body: 'There' } } },
      pushType: 'alert',
      priority: 10,
    });
  });

  it('maps every rich field', () => {
    const push = mapped({
      title: 'Goal!',
      body: '2–1',
      data: '{"matchId":"m-9","score":[2,1]}',
      image: 'https://cdn.example/goal.jpg',
      sound: 'whistle.caf',
      badge: '4',
      threadId: 'match-m-9',
      category: 'SCORE',
      interruptionLevel: 'time-sensitive',
      collapseId: 'm-9-score',
    });
    expect(push.body).toEqual({
      matchId: 'm-9',
      score: [2, 1],
      image: 'https://cdn.example/goal.jpg',
      aps: {
        alert: { title: 'Goal!', body: '2–1' },
        badge: 4,
        'interruption-level': 'time-sensitive',
        sound: 'whistle.caf',
        'thread-id': 'match-m-9',
        category: 'SCORE',
        'mutable-content': 1,
      },
    });
    expect(push).toMatchObject({ pushType: 'alert', priority: 10, collapseId: 'm-9-score' });
  });

  it('leaves out empty fields', () => {
    expect(mapped({ title: 'Hi', body: '', sound: ' ', badge: '', data: '' }).body).toEqual({
      aps: { alert: { title: 'Hi' } },
    });
  });

  it('silent: "true" sends only content-available (with data) as a background push at priority 5', () => {
    const push = mapped({
      silent: 'true',
      title: 'ignored',
      body: 'ignored',
      sound: 'ping.caf',
      badge: '2',
      image: 'https://cdn.example/x.png',
      data: '{"sync":"inbox"}',
    });
    expect(push.body).toEqual({ sync: 'inbox', aps: { 'content-available': 1 } });
    expect(push).toMatchObject({ pushType: 'background', priority: 5 });
  });

  it('silent other than "true" is an ordinary alert', () => {
    expect(mapped({ silent: 'false', body: 'x' })).toMatchObject({ pushType: 'alert', priority: 10 });
  });

  it('badge "unread" is the unread count at send time, left out when unknown', () => {
    expect(mapped({ body: 'x', badge: 'unread' }, 7).body.aps).toEqual({ alert: { body: 'x' }, badge: 7 });
    expect(mapped({ body: 'x', badge: 'unread' }, 0).body.aps).toEqual({ alert: { body: 'x' }, badge: 0 });
    expect(mapped({ body: 'x', badge: 'unread' }).body.aps).toEqual({ alert: { body: 'x' } });
  });

  it('passive pushes go at priority 5; critical ones carry a critical sound', () => {
    expect(mapped({ body: 'x', interruptionLevel: 'passive' }).priority).toBe(5);
    expect(mapped({ body: 'x', interruptionLevel: 'active' }).priority).toBe(10);
    expect(mapped({ body: 'x', interruptionLevel: 'critical', sound: 'alarm.caf' }).body.aps).toMatchObject({
      'interruption-level': 'critical',
      sound: { critical: 1, name: 'alarm.caf', volume: 1 },
    });
    expect(mapped({ body: 'x', interruptionLevel: 'critical' }).body.aps).toMatchObject({
      sound: { critical: 1, name: 'default', volume: 1 },
    });
  });

  it('the template image wins over a data key of that name', () => {
    expect(mapped({ body: 'x', image: 'https://a/1.png', data: '{"image":"other"}' }).body.image).toBe(
      'https://a/1.png',
    );
  });

  it.each([
    ['badge text', { body: 'x', badge: 'lots' }, /badge must be a whole number or "unread"/],
    ['negative badge', { body: 'x', badge: '-1' }, /badge must be a whole number/],
    ['interruption level', { body: 'x', interruptionLevel: 'urgent' }, /interruptionLevel must be passive/],
    ['data that is not JSON', { body: 'x', data: '{oops' }, /data must be JSON text/],
    ['data that is an array', { body: 'x', data: '[1,2]' }, /data must be a JSON object/],
    ['data that is a string', { body: 'x', data: '"s"' }, /data must be a JSON object/],
    ['data with an aps key', { body: 'x', data: '{"aps":{"badge":99}}' }, /"aps" key/],
    ['nothing to show', { image: 'https://a/1.png' }, /no title, body, badge or sound/],
  ])('refuses %s', (_name, content, reason) => {
    expect(refused(content)).toMatch(reason);
  });

  it('refuses a collapseId over 64 bytes, counting bytes, never cutting it', () => {
    expect(mapped({ body: 'x', collapseId: 'c'.repeat(64) }).collapseId).toBe('c'.repeat(64));
    expect(refused({ body: 'x', collapseId: 'c'.repeat(65) })).toBe(
      'collapseId is 65 bytes; APNs accepts at most 64',
    );
    // 22 three-byte characters: 22 characters, 66 bytes.
    expect(refused({ body: 'x', collapseId: '€'.repeat(22) })).toBe(
      'collapseId is 66 bytes; APNs accepts at most 64',
    );
  });

  it('enforces 4096 bytes on the payload after mapping, and says its size', () => {
    // {"aps":{"alert":{"body":"…"}}} is 29 bytes around the body.
    const fits = 'a'.repeat(MAX_PAYLOAD_BYTES - 29);
    expect(mapped({ body: fits }).payload).toHaveLength(MAX_PAYLOAD_BYTES);
    expect(refused({ body: `${fits}a` })).toBe(
      'payload is 4097 bytes after mapping; APNs accepts at most 4096',
    );
    // Multi-byte text counts in bytes: 1,400 × 3 bytes is over the limit in 1,400 characters.
    expect(refused({ body: '€'.repeat(1400) })).toMatch(/^payload is 42\d\d bytes after mapping/);
    // Escaping counts too: data's quotes and the alert's together.
    expect(refused({ title: '"'.repeat(1500), data: JSON.stringify({ k: '"'.repeat(600) }) })).toMatch(
      /^payload is \d+ bytes after mapping/,
    );
  });
});

describe('apnsIdFor', () => {
  it('is a stable lower-case UUIDv5 per message id', () => {
    const id = apnsIdFor('msg_01HXYZ');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(apnsIdFor('msg_01HXYZ')).toBe(id);
    expect(apnsIdFor('msg_01HXYz')).not.toBe(id);
  });
});

describe('isDeviceToken', () => {
  it.each([
    ['a 32-byte hex token', 'ab'.repeat(32), true],
    ['upper-case hex', 'AB'.repeat(32), true],
    ['a longer (100-byte) token', 'cd'.repeat(100), true],
    ['an odd number of digits', `${'ab'.repeat(32)}a`, false],
    ['non-hex', 'zz'.repeat(32), false],
    ['a path', '../../3/device/x', false],
    ['empty', '', false],
  ])('%s → %s', (_name, token, ok) => {
    expect(isDeviceToken(token)).toBe(ok);
  });
});

describe('classifyApnsAnswer', () => {
  const meta = { deviceId: 'dev_1' };
  const answer = (status: number, reason?: string, headers: Record<string, string> = {}) => ({
    status,
    headers,
    body: reason === undefined ? '' : JSON.stringify({ reason }),
  });
  const now = Date.UTC(2030, 0, 1);

  it.each([
    [410, 'Unregistered', { kind: 'bad_address', deactivate: 'unregistered' }],
    [410, 'ExpiredToken', { kind: 'bad_address', deactivate: 'expired' }],
    [400, 'BadDeviceToken', { kind: 'bad_address', deactivate: 'bad_token' }],
    [400, 'DeviceTokenNotForTopic', { kind: 'bad_address', deactivate: 'bad_token' }],
    [400, 'BadTopic', { kind: 'permanent' }],
    [400, 'MissingTopic', { kind: 'permanent' }],
    // Our credentials refused: the integration is broken, the send fails over.
    [403, 'InvalidProviderToken', { kind: 'retryable', integrationFailed: true }],
    [403, 'ExpiredProviderToken', { kind: 'retryable', integrationFailed: true }],
    [403, 'BadCertificateEnvironment', { kind: 'retryable', integrationFailed: true }],
    [404, 'BadPath', { kind: 'permanent' }],
    [405, 'MethodNotAllowed', { kind: 'permanent' }],
    [413, 'PayloadTooLarge', { kind: 'permanent' }],
    [429, 'TooManyRequests', { kind: 'retryable' }],
    [429, 'TooManyProviderTokenUpdates', { kind: 'retryable' }],
    [500, 'InternalServerError', { kind: 'retryable' }],
    [503, 'ServiceUnavailable', { kind: 'retryable' }],
  ])('%i %s', (status, reason, expected) => {
    const outcome = classifyApnsAnswer(answer(status, reason), 'id', meta, now);
    expect(outcome).toMatchObject({
      ...expected,
      reason: expect.stringContaining(`APNs ${status} ${reason}`),
    });
  });

  it('returns the echoed apns-id as providerMessageId, with meta', () => {
    const echoed = '0f0e0d0c-0b0a-5908-8706-050403020100';
    expect(classifyApnsAnswer(answer(200, undefined, { 'apns-id': echoed }), 'ours', meta, now)).toEqual({
      kind: 'accepted',
      providerMessageId: echoed,
      detail: 'APNs 200',
      meta,
    });
    // Whatever else an endpoint override answers is not stored.
    expect(
      classifyApnsAnswer(answer(200, undefined, { 'apns-id': '<b>x</b>' }), 'ours', meta, now),
    ).toMatchObject({
      providerMessageId: 'ours',
    });
  });

  it('honours Retry-After in seconds or as an HTTP date', () => {
    expect(classifyApnsAnswer(answer(503, 'Shutdown', { 'retry-after': '12' }), 'id', meta, now)).toEqual({
      kind: 'retryable',
      reason: 'APNs 503 Shutdown',
      retryAfterMs: 12_000,
    });
    const date = new Date(now + 90_000).toUTCString();
    expect(
      classifyApnsAnswer(answer(429, 'TooManyRequests', { 'retry-after': date }), 'id', meta, now),
    ).toMatchObject({ retryAfterMs: 90_000 });
  });

  it('keeps only a plain word of the reason', () => {
    expect(apnsReason('{"reason":"BadTopic"}')).toBe('BadTopic');
    expect(apnsReason('{"reason":"<script>alert(1)</script>"}')).toBeUndefined();
    expect(apnsReason('not json')).toBeUndefined();
    expect(apnsReason('null')).toBeUndefined();
    expect(classifyApnsAnswer({ status: 400, headers: {}, body: 'garbage' }, 'id', meta, now)).toEqual({
      kind: 'permanent',
      reason: 'APNs 400',
      meta,
    });
  });
});
