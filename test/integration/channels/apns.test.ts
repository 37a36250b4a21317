import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelProvider, OutboundMessage } from '../../../src/channels/port.ts';
import { type ApnsOptions, createApnsProvider, NO_ANSWER } from '../../../src/channels/push/apns.ts';
import { apnsIdFor } from '../../../src/channels/push/apns-payload.ts';
import { type ApnsFake, apnsKeyPair, startApnsFake } from '../../fakes/apns.ts';
import { closedPort, loopbackContext, strictContext } from '../../fakes/outbound.ts';
import { REPO_ROOT } from '../../helpers/child.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { waitFor } from '../../helpers/wait.ts';

const keys = apnsKeyPair();
const APP = { teamId: 'TEAM123456', keyId: 'KEY1234567', bundleId: 'com.acme.app' };

/** A device token per index: 32 bytes of hex, distinct for every `n`. */
const tokenFor = (n: number) => n.toString(16).padStart(64, '0');

function push(n: number, content: Record<string, string> = {}): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: `msg_${n}`,
    eventId: 'evt_1',
    workflow: 'alerts',
    channel: 'push',
    subscriber: { id: `sub_${n}`, email: null, phone: null, locale: null, timezone: null },
    content: { title: 'Alert', body: `number ${n}`, ...content },
    data: {},
    device: { id: `dev_${n}`, platform: 'apns', token: tokenFor(n) },
  };
}

describe('apns provider against a real HTTP/2 server', () => {
  let fake: ApnsFake;
  const providers: ChannelProvider[] = [];
  const context = loopbackContext();

  const provider = (options: ApnsOptions = {}, endpoint?: string) => {
    const built = createApnsProvider(
      { ...APP, environment: 'production', endpoint: endpoint ?? fake.url },
      { privateKey: keys.privateKey },
      context,
      { ca: fake.ca, ...options },
    );
    providers.push(built);
    return built;
  };

  beforeAll(async () => {
    fake = await startApnsFake({ ...APP, publicKey: keys.publicKey, maxConcurrentStreams: 100 });
  });
  beforeEach(() => fake.reset());
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close?.()));
  });
  afterAll(async () => {
    await context.outbound.close();
    await fake.close();
  });

  it('sends 1,000 pushes to 1,000 devices over at most 4 connections, each once', async () => {
    const before = fake.connections;
    const apns = provider();
    const outcomes = await Promise.all(Array.from({ length: 1000 }, (_, n) => apns.send(push(n))));

    expect(outcomes.filter((o) => o.kind === 'accepted')).toHaveLength(1000);
    const opened = fake.connections - before;
    // 100 streams per connection: one connection cannot carry the burst, more than 4 are never opened.
    expect(opened).toBeGreaterThan(1);
    expect(opened).toBeLessThanOrEqual(4);
    expect(new Set(fake.requests.map((r) => r.path)).size).toBe(1000);
    expect(fake.acceptedByApnsId.size).toBe(1000);
    expect([...fake.acceptedByApnsId.values()].every((count) => count === 1)).toBe(true);
    expect(outcomes[7]).toMatchObject({ providerMessageId: apnsIdFor('msg_7'), meta: { deviceId: 'dev_7' } });
  });

  it('starts at the one stream APNs allows before a valid token, and uses the limit it raises to', async () => {
    const strict = await startApnsFake({
      ...APP,
      publicKey: keys.publicKey,
      initialMaxConcurrentStreams: 1,
      maxConcurrentStreams: 500,
    });
    const apns = provider({ ca: strict.ca }, strict.url);
    try {
      const outcomes = await Promise.all(Array.from({ length: 400 }, (_, n) => apns.send(push(n))));
      expect(outcomes.filter((o) => o.kind === 'accepted')).toHaveLength(400);
      expect(strict.connections).toBeLessThanOrEqual(4);
      // Four connections held to one stream each would never run more than 4 at once.
      expect(strict.peakStreams).toBeGreaterThan(4);
    } finally {
      await apns.close?.();
      await strict.close();
    }
  });

  it('loses and duplicates nothing when the server sends GOAWAY in the middle of a burst', async () => {
    const before = fake.connections;
    const apns = provider();
    expect((await apns.send(push(0))).kind).toBe('accepted');
    fake.goawayAfter(40);
    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, n) => apns.send(push(n + 1))));

    expect(outcomes.map((o) => o.kind)).toEqual(Array(300).fill('accepted'));
    // The unprocessed streams went again, on a new connection.
    expect(fake.connections - before).toBeGreaterThanOrEqual(2);
    expect(fake.acceptedByApnsId.size).toBe(301);
    const duplicated = [...fake.acceptedByApnsId].filter(([, count]) => count !== 1);
    expect(duplicated).toEqual([]);
  });

  it('after a GOAWAY with an error code, resends what was not processed and reports the rest retryable', async () => {
    const apns = provider();
    expect((await apns.send(push(0))).kind).toBe('accepted');
    fake.reset();
    // Node ends the session at once on an error GOAWAY, so streams the server took may lose their answer.
    fake.goawayAfter(40, constants.NGHTTP2_INTERNAL_ERROR);
    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, n) => apns.send(push(n + 1))));

    const kinds = new Set(outcomes.map((o) => o.kind));
    expect([...kinds].every((kind) => kind === 'accepted' || kind === 'retryable')).toBe(true);
    // Every stream above the last one processed went again and was accepted: at most 40 are in doubt.
    expect(outcomes.filter((o) => o.kind === 'accepted').length).toBeGreaterThanOrEqual(260);
    expect([...fake.acceptedByApnsId.values()].every((count) => count === 1)).toBe(true);
  });

  it('replaces a connection that stops answering PINGs', async () => {
    const before = fake.connections;
    const apns = provider({ pingIntervalMs: 200, pingTimeoutMs: 500, requestTimeoutMs: 20_000 });
    expect((await apns.send(push(1))).kind).toBe('accepted');
    expect(fake.connections - before).toBe(1);

    fake.freeze();
    const started = Date.now();
    // A send caught on the dead connection comes back retryable once the PING deadline drops it;
    // the next one goes out on a new connection.
    await waitFor(async () => (await apns.send(push(2))).kind === 'accepted', 'a send on a new connection');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fake.connections - before).toBe(2);
  });

  it('renews the provider token after 40 minutes, not before', async () => {
    let now = Date.now();
    const apns = provider({ clock: () => now });
    await apns.send(push(1));
    now += 39 * 60_000;
    await apns.send(push(2));
    now += 2 * 60_000;
    await apns.send(push(3));

    const tokens = fake.requests.map((r) => r.headers.authorization);
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[2]).not.toBe(tokens[1]);
    const iat = (auth: string | undefined) =>
      JSON.parse(Buffer.from(auth!.split('.')[1]!, 'base64url').toString()).iat as number;
    expect(iat(tokens[2]) - iat(tokens[0])).toBeGreaterThanOrEqual(41 * 60 - 1);
  });

  it('signs one new token for a burst that all met ExpiredProviderToken, and resends with the same apns-id', async () => {
    const apns = provider();
    expect((await apns.send(push(0))).kind).toBe('accepted');
    fake.reset();
    fake.answerNext(...Array.from({ length: 50 }, () => ({ status: 403, reason: 'ExpiredProviderToken' })));
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, n) => apns.send(push(n + 1))));

    expect(outcomes.every((o) => o.kind === 'accepted')).toBe(true);
    expect(fake.requests).toHaveLength(100);
    expect(new Set(fake.requests.map((r) => r.headers.authorization)).size).toBe(2);
    const idsOf = (n: number) =>
      fake.requests.filter((r) => r.path === `/3/device/${tokenFor(n)}`).map((r) => r.headers['apns-id']);
    expect(idsOf(5)).toEqual([apnsIdFor('msg_5'), apnsIdFor('msg_5')]);
  });

  it('sends silent pushes as background, priority 5, with only content-available', async () => {
    const outcome = await provider().send(push(1, { silent: 'true', data: '{"sync":true}', badge: '3' }));
    expect(outcome.kind).toBe('accepted');
    const [request] = fake.requests;
    expect(request?.headers).toMatchObject({ 'apns-push-type': 'background', 'apns-priority': '5' });
    expect(JSON.parse(request!.body)).toEqual({ sync: true, aps: { 'content-available': 1 } });
  });

  it('sets apns-collapse-id and meta.collapseId; refuses one over 64 bytes without sending', async () => {
    const apns = provider();
    const ok = await apns.send(push(1, { collapseId: 'score-update' }));
    expect(ok).toMatchObject({ kind: 'accepted', meta: { deviceId: 'dev_1', collapseId: 'score-update' } });
    expect(fake.requests[0]?.headers['apns-collapse-id']).toBe('score-update');

    const long = await apns.send(push(2, { collapseId: 'x'.repeat(65) }));
    expect(long).toEqual({
      kind: 'permanent',
      reason: 'collapseId is 65 bytes; APNs accepts at most 64',
      meta: { deviceId: 'dev_2' },
    });
    expect(fake.requests).toHaveLength(1);
  });

  it('answers per device token: one dead device does not affect the others', async () => {
    fake.answerFor(tokenFor(2), { status: 410, reason: 'Unregistered' });
    const apns = provider();
    const [one, two, three] = await Promise.all([1, 2, 3].map((n) => apns.send(push(n))));
    expect(one?.kind).toBe('accepted');
    expect(two).toEqual({ kind: 'bad_address', reason: 'APNs 410 Unregistered', deactivate: 'unregistered' });
    expect(three?.kind).toBe('accepted');
  });

  it('refuses a device token that is not hex before sending', async () => {
    const message = push(1);
    message.device = { id: 'dev_x', platform: 'apns', token: '../../evil?x=1' };
    const outcome = await provider().send(message);
    expect(outcome).toMatchObject({ kind: 'bad_address', deactivate: 'bad_token' });
    expect(fake.requests).toHaveLength(0);
  });

  it('maps a refused connection to a broken integration (retryable, failing over)', async () => {
    const port = await closedPort();
    const outcome = await provider({}, `https://127.0.0.1:${port}`).send(push(1));
    expect(outcome).toEqual({ kind: 'retryable', reason: NO_ANSWER, integrationFailed: true });
  });

  it('does not trust a certificate outside the trust store', async () => {
    const outcome = await provider({ ca: undefined }).send(push(1));
    expect(outcome).toMatchObject({
      kind: 'retryable',
      reason: expect.stringMatching(/^TLS with APNs failed: /),
    });
    expect(fake.requests).toHaveLength(0);
  });

  it("trusts NODE_EXTRA_CA_CERTS, as Node's own store does", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tidings-apns-ca-'));
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, fake.ca);
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['bin/run-ts.mjs', 'test/fixtures/apns-send.ts', fake.url],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, APNS_TEST_KEY: keys.privateKey },
        },
      );
      expect(JSON.parse(stdout)).toMatchObject({
        kind: 'accepted',
        providerMessageId: apnsIdFor('msg_child'),
      });
      expect(fake.requests).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps a private endpoint the rule refuses to blocked_target', async () => {
    const strict = strictContext();
    const apns = createApnsProvider(
      { ...APP, environment: 'production', endpoint: fake.url },
      { privateKey: keys.privateKey },
      strict,
      { ca: fake.ca },
    );
    const outcome = await apns.send(push(1));
    await apns.close?.();
    await strict.outbound.close();
    expect(outcome.kind).toBe('blocked_target');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('apns integrations through the API', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const config = { ...APP, environment: 'production' };
  const put = (id: string, body: Record<string, unknown>) =>
    server.call('PUT', `/v1/integrations/${id}`, { channel: 'push', provider: 'apns', ...body });
  const paths = (res: { body: { error: { details: { path: string }[] } } }) =>
    res.body.error.details.map((d) => d.path);

  it('stores a P-256 .p8 key and never returns it', async () => {
    const ok = await put('ios', { config, credentials: { privateKey: keys.privateKey } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ id: 'ios', provider: 'apns', channel: 'push', hasCredentials: true });
    const listed = await server.call('GET', '/v1/integrations');
    expect(JSON.stringify(listed.body)).not.toContain('PRIVATE KEY');
  });

  it('refuses a key that is not a P-256 PEM with 422 naming credentials.privateKey', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    for (const privateKey of ['not a key', rsa]) {
      const res = await put('bad-key', { config, credentials: { privateKey } });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('unprocessable');
      expect(paths(res)).toEqual(['credentials.privateKey']);
    }
    expect((await server.call('GET', '/v1/integrations/bad-key')).status).toBe(404);
  });

  it('validates the config fields by name', async () => {
    const missing = await put('x', { config: { teamId: 'TEAM123456' }, credentials: {} });
    expect(missing.status).toBe(422);
    expect(paths(missing)).toEqual(
      expect.arrayContaining([
        'config.keyId',
        'config.bundleId',
        'config.environment',
        'credentials.privateKey',
      ]),
    );
    const staging = await put('x', {
      config: { ...config, environment: 'staging' },
      credentials: { privateKey: keys.privateKey },
    });
    expect(staging.status).toBe(422);
    expect(paths(staging)).toContain('config.environment');
    const plain = await put('x', {
      config: { ...config, endpoint: 'http://apns.example.com' },
      credentials: { privateKey: keys.privateKey },
    });
    expect(plain.status).toBe(422);
    expect(paths(plain)).toContain('config.endpoint');
    const wrongChannel = await server.call('PUT', '/v1/integrations/x', {
      channel: 'email',
      provider: 'apns',
      config,
      credentials: { privateKey: keys.privateKey },
    });
    expect(wrongChannel.status).toBe(400);
    expect(paths(wrongChannel)).toEqual(['channel']);
  });

  it('holds an endpoint override to the private-target rule', async () => {
    const res = await put('x', {
      config: { ...config, endpoint: 'https://127.0.0.1:8443' },
      credentials: { privateKey: keys.privateKey },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('blocked_target');
    expect(paths(res)).toEqual(['config.endpoint']);
  });

  it('asks for the key again when tokens would go to another host, the other Apple environment too', async () => {
    expect((await put('move', { config, credentials: { privateKey: keys.privateKey } })).status).toBe(200);
    // api.sandbox.push.apple.com is another host than api.push.apple.com (API.md: host, URL, endpoint).
    const sandbox = await put('move', { config: { ...config, environment: 'sandbox' } });
    expect(sandbox.status).toBe(422);
    expect(sandbox.body.error.code).toBe('credentials_required');
    const elsewhere = await put('move', {
      config: { ...config, endpoint: 'https://apns-proxy.example.com' },
    });
    expect(elsewhere.status).toBe(422);
    expect(elsewhere.body.error.code).toBe('credentials_required');
  });
});
