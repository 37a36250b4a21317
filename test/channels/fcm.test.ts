import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelProvider, OutboundMessage } from '../../src/channels/port.ts';
import { createFcmProvider } from '../../src/channels/push/fcm.ts';
import { type FcmFake, startFcmFake } from '../fakes/fcm.ts';
import { closedPort, loopbackContext, strictContext } from '../fakes/outbound.ts';

function push(n: number, content: Record<string, string> = { title: 'Hi', body: 'There' }): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: `msg_${n}`,
    eventId: `evt_${n}`,
    workflow: 'w',
    channel: 'push',
    subscriber: { id: `sub_${n}`, email: null, phone: null, locale: null, timezone: null },
    content,
    data: {},
    device: { id: `dev_${n}`, platform: 'fcm', token: `token-${n}` },
  };
}

describe('fcm provider against the fake', () => {
  let fake: FcmFake;
  const context = loopbackContext();
  const providers: ChannelProvider[] = [];
  const build = (serviceAccount: unknown = fake.serviceAccount, endpoint = fake.url, ctx = context) => {
    const provider = createFcmProvider({ projectId: fake.projectId, endpoint }, { serviceAccount }, ctx);
    providers.push(provider);
    return provider;
  };

  beforeEach(async () => {
    fake = await startFcmFake();
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close?.()));
    await fake.close();
  });
  afterAll(() => context.outbound.close());

  it('shares one access token among 50 concurrent sends: one exchange, 50 messages', async () => {
    const provider = build();
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => provider.send(push(i))));
    expect(outcomes.map((o) => o.kind)).toEqual(Array(50).fill('accepted'));
    expect(fake.exchanges).toBe(1);
    expect(fake.requests).toHaveLength(50);
    expect(new Set(fake.requests.map((r) => r.headers.authorization)).size).toBe(1);
    const tokens = fake.requests.map((r) => JSON.parse(r.body).message.token).sort();
    expect(tokens).toEqual(Array.from({ length: 50 }, (_, i) => `token-${i}`).sort());
  });

  it('renews the access token after a 401 and sends once more: one renewal for concurrent refusals', async () => {
    const provider = build();
    expect((await provider.send(push(0))).kind).toBe('accepted');
    fake.revokeTokens();
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => provider.send(push(i + 1))));
    expect(outcomes.map((o) => o.kind)).toEqual(Array(10).fill('accepted'));
    expect(fake.exchanges).toBe(2);
  });

  it('exchanges a new token when the clock reaches five minutes before expiry', async () => {
    let now = Date.now();
    const provider = createFcmProvider(
      { projectId: fake.projectId, endpoint: fake.url },
      { serviceAccount: fake.serviceAccount },
      context,
      { now: () => now },
    );
    providers.push(provider);
    await provider.send(push(1));
    now += 50 * 60_000;
    await provider.send(push(2));
    expect(fake.exchanges).toBe(1);
    now += 5 * 60_000;
    await provider.send(push(3));
    expect(fake.exchanges).toBe(2);
    const bearers = fake.requests.map((r) => r.headers.authorization);
    expect(bearers[0]).toBe(bearers[1]);
    expect(bearers[2]).not.toBe(bearers[1]);
  });

  it('reports the integration broken when the token endpoint refuses the assertion (a key Google does not know)', async () => {
    const other = await startFcmFake({ ownKey: true });
    try {
      // The other fake's key, sent to this fake's token endpoint: the signature does not verify.
      const provider = build({ ...other.serviceAccount, token_uri: fake.serviceAccount.token_uri });
      const outcome = await provider.send(push(1));
      expect(outcome).toEqual({
        kind: 'retryable',
        reason: 'OAuth token exchange refused: HTTP 400 Bad Request invalid_grant: Invalid JWT Signature.',
        integrationFailed: true,
      });
      expect(fake.requests).toHaveLength(0);
    } finally {
      await other.close();
    }
  });

  it('retries when the token endpoint is busy, with its Retry-After', async () => {
    fake.failNextExchange({ status: 503, body: { error: 'unavailable' }, headers: { 'retry-after': '9' } });
    const provider = build();
    expect(await provider.send(push(1))).toMatchObject({ kind: 'retryable', retryAfterMs: 9_000 });
    expect(await provider.send(push(2))).toMatchObject({ kind: 'accepted' });
    expect(fake.exchanges).toBe(2);
  });

  it('fails over when FCM cannot be reached (the integration is down, not the message)', async () => {
    const provider = build(fake.serviceAccount, `http://127.0.0.1:${await closedPort()}`);
    expect(await provider.send(push(1))).toEqual({
      kind: 'retryable',
      reason: 'no response from FCM (connection failed or timed out)',
      integrationFailed: true,
    });
  });

  it('refuses a loopback token_uri at send under the default rule: blocked_target, nothing sent', async () => {
    const strict = strictContext();
    try {
      const provider = build(fake.serviceAccount, 'https://fcm.googleapis.com', strict);
      const outcome = await provider.send(push(1));
      expect(outcome.kind).toBe('blocked_target');
      expect(fake.exchanges).toBe(0);
    } finally {
      await strict.outbound.close();
    }
  });

  it('fails a payload over 4096 bytes before any request, naming the size', async () => {
    const provider = build();
    const outcome = await provider.send(push(1, { title: 't', body: 'x'.repeat(4100) }));
    expect(outcome).toMatchObject({
      kind: 'permanent',
      reason: expect.stringMatching(/FCM payload is 4\d{3} bytes after mapping/),
      meta: { deviceId: 'dev_1' },
    });
    expect(fake.exchanges).toBe(0);
    expect(fake.requests).toHaveLength(0);
  });

  it('fails a message without a registration token for good', async () => {
    const message = push(1);
    delete message.device;
    expect(await build().send(message)).toMatchObject({ kind: 'permanent' });
  });
});
