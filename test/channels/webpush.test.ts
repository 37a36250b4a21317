import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { type OutboundMessage, ProviderConfigError } from '../../src/channels/port.ts';
import { createWebPushProvider } from '../../src/channels/webpush/webpush.ts';
import { loopbackContext, strictContext } from '../fakes/outbound.ts';
import { type FakeSubscription, startWebPushFake, type WebPushFake } from '../fakes/webpush.ts';

const vapid = webpush.generateVAPIDKeys();

function webPush(
  subscription: FakeSubscription['subscription'],
  content: Record<string, string>,
): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_1',
    eventId: 'evt_1',
    workflow: 'w',
    channel: 'webpush',
    subscriber: { id: 'sub_1', email: null, phone: null, locale: null, timezone: null },
    content,
    data: {},
    device: { id: 'dev_1', platform: 'webpush', token: '', subscription },
  };
}

describe('webpush provider against the fake push service', () => {
  let fake: WebPushFake;
  const context = loopbackContext();
  const provider = (keys = vapid, ctx = context) =>
    createWebPushProvider(
      { subject: 'https://tidings.example/contact' },
      { vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey },
      ctx,
    );

  beforeEach(async () => {
    fake = await startWebPushFake();
  });
  afterEach(() => fake.close());
  afterAll(() => context.outbound.close());

  it('encrypts to the subscription: the browser decrypts exactly the rendered payload', async () => {
    const browser = fake.subscribe(vapid.publicKey);
    const content = {
      title: 'Alarm',
      body: 'Disk full',
      data: '{"node":"db-1"}',
      interruptionLevel: 'critical',
    };
    expect(await provider().send(webPush(browser.subscription, content))).toMatchObject({ kind: 'accepted' });
    expect(fake.refusals).toEqual([]);
    expect(JSON.parse(fake.received[0]!.plaintext)).toEqual({
      messageId: 'msg_1',
      title: 'Alarm',
      body: 'Disk full',
      data: { node: 'db-1' },
      interruptionLevel: 'critical',
    });
    expect(fake.received[0]!.headers.urgency).toBe('high');
    expect(fake.received[0]!.headers.topic).toBeUndefined();
  });

  it('sends a collapse id that is a valid Topic as it is', async () => {
    const browser = fake.subscribe(vapid.publicKey);
    await provider().send(webPush(browser.subscription, { title: 't', collapseId: 'inbox-count' }));
    expect(fake.received[0]!.headers.topic).toBe('inbox-count');
  });

  it('is refused (403, permanent) when the VAPID key is not the one the browser subscribed with', async () => {
    const browser = fake.subscribe(webpush.generateVAPIDKeys().publicKey);
    const outcome = await provider().send(webPush(browser.subscription, { title: 't' }));
    expect(outcome).toMatchObject({ kind: 'permanent', reason: 'HTTP 403 Forbidden' });
    expect(fake.refusals).toEqual(['the VAPID key is not the one this subscription was made for']);
  });

  it('cannot be decrypted when the keys are another browser’s: the fake refuses it', async () => {
    const browser = fake.subscribe(vapid.publicKey);
    const other = fake.subscribe(vapid.publicKey);
    const mixed = { endpoint: browser.subscription.endpoint, keys: other.subscription.keys };
    expect(await provider().send(webPush(mixed, { title: 't' }))).toMatchObject({ kind: 'permanent' });
    expect(fake.refusals[0]).toMatch(/^cannot decrypt/);
    expect(fake.received).toHaveLength(0);
  });

  it('deactivates a subscription whose keys no browser makes, without a request', async () => {
    const browser = fake.subscribe(vapid.publicKey);
    const broken = {
      ...browser.subscription,
      keys: { p256dh: 'AAAA', auth: browser.subscription.keys.auth },
    };
    expect(await provider().send(webPush(broken, { title: 't' }))).toMatchObject({
      kind: 'bad_address',
      deactivate: 'bad_token',
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('refuses a loopback endpoint at send under the default rule: blocked_target, nothing sent', async () => {
    const strict = strictContext();
    try {
      const browser = fake.subscribe(vapid.publicKey);
      const outcome = await provider(vapid, strict).send(webPush(browser.subscription, { title: 't' }));
      expect(outcome.kind).toBe('blocked_target');
      expect(fake.requests).toHaveLength(0);
    } finally {
      await strict.outbound.close();
    }
  });
});

describe('webpush VAPID checks when the client is built (PUT time)', () => {
  const build =
    (config: { subject: string }, keys: { vapidPublicKey: string; vapidPrivateKey: string }) => () =>
      createWebPushProvider(config, keys, { outbound: strictContext().outbound });
  const pair = { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey };
  const pathOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return error instanceof ProviderConfigError ? `${error.path}: ${error.message}` : String(error);
    }
    return 'built';
  };

  it.each([
    [{ subject: 'mailto:ops@example.com' }, pair, 'built'],
    [{ subject: 'http://example.com' }, pair, 'config.subject: must be a mailto: or https: URL'],
    [
      { subject: 'mailto:ops@example.com' },
      { ...pair, vapidPublicKey: 'not base64!' },
      'credentials.vapidPublicKey: must be URL-safe base64 without padding',
    ],
    [
      { subject: 'mailto:ops@example.com' },
      { ...pair, vapidPublicKey: 'AAAA' },
      'credentials.vapidPublicKey: must decode to 65 bytes (it decodes to 3)',
    ],
    [
      { subject: 'mailto:ops@example.com' },
      { ...pair, vapidPrivateKey: 'AAAA' },
      'credentials.vapidPrivateKey: must decode to 32 bytes (it decodes to 3)',
    ],
    [
      { subject: 'mailto:ops@example.com' },
      { ...pair, vapidPrivateKey: webpush.generateVAPIDKeys().privateKey },
      'credentials.vapidPrivateKey: does not belong to vapidPublicKey',
    ],
    [
      { subject: 'mailto:ops@example.com' },
      { ...pair, vapidPrivateKey: Buffer.alloc(32).toString('base64url') },
      'credentials.vapidPrivateKey: is not a P-256 private key',
    ],
  ])('%o %o → %s', (config, keys, expected) => {
    expect(pathOf(build(config, keys))).toBe(expected);
  });
});
