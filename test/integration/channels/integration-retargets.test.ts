import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { DISCORD_WEBHOOK_PATH, startDiscordFake } from '../../fakes/discord.ts';
import type { HttpProviderFake } from '../../fakes/http-provider.ts';
import { LOOPBACK_TARGETS } from '../../fakes/outbound.ts';
import { TWILIO_TEST_SID, TWILIO_TEST_TOKEN } from '../../fakes/twilio.ts';
import { settledMessages } from '../../helpers/messages.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are read field by field and checked by assertions
type Json = any;
type Fields = Record<string, unknown>;

/**
 * API.md: "a PUT that changes where they would be sent (host, URL, endpoint) must carry them again
 * (422 credentials_required)". For Slack and Discord the secret is the webhook URL itself: a PUT
 * that sends it back masked may not send it anywhere new.
 */

const { privateKey: rsaKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serviceAccount = {
  type: 'service_account',
  project_id: 'tidings-prod',
  private_key: rsaKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  client_email: 'sender@tidings-prod.iam.gserviceaccount.com',
  token_uri: 'https://oauth2.googleapis.com/token',
};
const p8 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const vapid = webpush.generateVAPIDKeys();
const SECRET = `whsec_${Buffer.from('retarget-test-signing-key').toString('base64')}`;
const PROXY_A = 'https://proxy-a.example.test';
const PROXY_B = 'https://proxy-b.example.test';
const DISCORD_URL = `https://discord.com${DISCORD_WEBHOOK_PATH}`;

interface Provider {
  channel: string;
  provider: string;
  config: Fields;
  /** Undefined for the chat providers, whose secret is config.webhookUrl. */
  credentials: Fields | undefined;
}

interface Row extends Provider {
  name: string;
  /** Merged into the config GET shows (an `undefined` value removes the field). */
  change: Fields;
  /** The field the 422 names. */
  path: string;
}

const providers: Record<string, Provider> = {
  smtp: {
    channel: 'email',
    provider: 'smtp',
    config: { host: 'smtp.acme.test', port: 587, from: 'a@acme.test' },
    credentials: { user: 'relay', pass: 'relay-password' },
  },
  ses: {
    channel: 'email',
    provider: 'ses',
    config: { region: 'eu-west-1', from: 'a@acme.test' },
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'ses-secret' },
  },
  sendgrid: {
    channel: 'email',
    provider: 'sendgrid',
    config: { from: 'a@acme.test' },
    credentials: { apiKey: 'SG.sendgrid-key' },
  },
  twilio: {
    channel: 'sms',
    provider: 'twilio',
    config: { from: '+15550001111' },
    credentials: { accountSid: TWILIO_TEST_SID, authToken: TWILIO_TEST_TOKEN },
  },
  apns: {
    channel: 'push',
    provider: 'apns',
    config: {
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      bundleId: 'com.acme.app',
      environment: 'production',
    },
    credentials: { privateKey: p8 },
  },
  fcm: {
    channel: 'push',
    provider: 'fcm',
    config: { projectId: 'tidings-prod' },
    credentials: { serviceAccount },
  },
  webhook: {
    channel: 'webhook',
    provider: 'webhook',
    config: { url: 'https://hooks.acme.test/in' },
    credentials: { secret: SECRET },
  },
  webpush: {
    channel: 'webpush',
    provider: 'webpush',
    config: { subject: 'mailto:ops@acme.test' },
    credentials: { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey },
  },
  slack: {
    channel: 'chat',
    provider: 'slack',
    config: { webhookUrl: 'https://hooks.slack.com/services/T000/B000/slack-secret-token' },
    credentials: undefined,
  },
  discord: {
    channel: 'chat',
    provider: 'discord',
    config: { webhookUrl: DISCORD_URL },
    credentials: undefined,
  },
};

const secretPath = (p: Provider) => (p.credentials === undefined ? 'config.webhookUrl' : 'credentials');

/** An endpoint added, changed and removed. */
function endpointRows(name: string): Row[] {
  const p = providers[name]!;
  const path = secretPath(p);
  return [
    { ...p, name: `${name}: endpoint added`, change: { endpoint: PROXY_B }, path },
    {
      ...p,
      config: { ...p.config, endpoint: PROXY_A },
      name: `${name}: endpoint changed`,
      change: { endpoint: PROXY_B },
      path,
    },
    {
      ...p,
      config: { ...p.config, endpoint: PROXY_A },
      name: `${name}: endpoint removed`,
      change: { endpoint: undefined },
      path,
    },
  ];
}

const row = (name: string, what: string, change: Fields, base: Fields = {}): Row => {
  const p = providers[name]!;
  return { ...p, config: { ...p.config, ...base }, name: `${name}: ${what}`, change, path: secretPath(p) };
};

const ROWS: Row[] = [
  row('smtp', 'another host', { host: 'smtp.elsewhere.test' }),
  row('smtp', 'another port', { port: 2525 }),
  row('smtp', 'AUTH in clear allowed', { insecure: true }),
  row('ses', 'another region (another host)', { region: 'us-east-1' }),
  ...endpointRows('ses'),
  ...endpointRows('sendgrid'),
  ...endpointRows('twilio'),
  row('apns', 'production to sandbox (api.sandbox.push.apple.com)', { environment: 'sandbox' }),
  row(
    'apns',
    'sandbox to production (api.push.apple.com)',
    { environment: 'production' },
    {
      environment: 'sandbox',
    },
  ),
  ...endpointRows('apns'),
  ...endpointRows('fcm'),
  row('webhook', 'another host', { url: 'https://elsewhere.acme.test/in' }),
  row('webhook', 'another port', { url: 'https://hooks.acme.test:8443/in' }),
  ...endpointRows('webhook'),
  ...endpointRows('webpush'),
  ...endpointRows('slack'),
  ...endpointRows('discord'),
];

describe('a PUT that moves where a stored secret goes must give it again (422 credentials_required)', () => {
  // The default rule (no private target): a PUT never contacts the provider, so no fake is needed.
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  const put = (id: string, body: Fields) => server.call('PUT', `/v1/integrations/${id}`, body);

  it.each(ROWS.map((r, i) => [r.name, r, i] as const))('%s', async (_, r, i) => {
    const id = `move-${i}`;
    const head = { channel: r.channel, provider: r.provider };
    const first = await put(id, { ...head, config: r.config, credentials: r.credentials });
    expect(first.status).toBe(200);
    const shown: Fields = (await server.call('GET', `/v1/integrations/${id}`)).body.config;

    // What GET showed, sent back unchanged but for the priority, keeps the stored secret.
    expect((await put(id, { ...head, priority: 2, config: shown })).status).toBe(200);

    const moved = await put(id, { ...head, config: { ...shown, ...r.change } });
    expect(moved.status).toBe(422);
    expect(moved.body.error.code).toBe('credentials_required');
    expect(moved.body.error.details.map((d: { path: string }) => d.path)).toEqual([r.path]);
    // Nothing was written.
    expect((await server.call('GET', `/v1/integrations/${id}`)).body.config).toEqual(shown);

    // Given again (for chat: the whole URL), the same change is taken.
    const again = await put(id, {
      ...head,
      config: { ...r.config, ...r.change },
      credentials: r.credentials,
    });
    expect(again.status).toBe(200);
  });

  it('an SMTP integration stored with secure and insecure (no longer accepted) may not turn secure off without its credentials', async () => {
    const smtp = providers.smtp!;
    const head = { channel: 'email', provider: 'smtp' };
    expect(
      (await put('legacy-tls', { ...head, config: smtp.config, credentials: smtp.credentials })).status,
    ).toBe(200);
    // As an integration saved before PUT refused `insecure` beside `secure` holds it: AUTH only over TLS.
    const store = server.tidings.store;
    const saved = (await store.getIntegration('default', 'legacy-tls'))!;
    await store.putIntegration(
      { ...saved, config: { ...saved.config, secure: true, insecure: true } },
      Date.now(),
    );
    const clear = await put('legacy-tls', {
      ...head,
      config: { ...smtp.config, secure: false, insecure: true },
    });
    expect(clear.status).toBe(422);
    expect(clear.body.error.code).toBe('credentials_required');
  });
});

describe('a Discord webhook URL sent back masked goes nowhere new', () => {
  let server: TestServer;
  let first: HttpProviderFake;
  let other: HttpProviderFake;

  beforeAll(async () => {
    [server, first, other] = await Promise.all([
      startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
      startDiscordFake(),
      startDiscordFake(),
    ]);
    await server.call('PUT', '/v1/workflows/deploys', {
      channels: [{ channel: 'chat', template: { text: 'Deploy {{ data.n }} done' } }],
    });
  });
  afterAll(async () => {
    await Promise.all([server?.close(), first?.close(), other?.close()]);
  });

  const sendChat = async (n: number): Promise<Json> => {
    const event = await server.call('POST', '/v1/events', { workflow: 'deploys', to: ['ops'], data: { n } });
    expect(event.status).toBe(202);
    const [message] = await settledMessages(server, [event.body.eventId], 1);
    return message;
  };

  it('refuses the masked URL with another endpoint (even with empty credentials); the secret still goes only to the first host', async () => {
    const created = await server.call('PUT', '/v1/integrations/dc', {
      channel: 'chat',
      provider: 'discord',
      config: { webhookUrl: DISCORD_URL, endpoint: first.url },
    });
    expect(created.status).toBe(200);
    const masked = (await server.call('GET', '/v1/integrations/dc')).body.config.webhookUrl;
    expect(masked).not.toContain('discord-webhook-token');

    for (const credentials of [undefined, {}]) {
      const moved = await server.call('PUT', '/v1/integrations/dc', {
        channel: 'chat',
        provider: 'discord',
        config: { webhookUrl: masked, endpoint: other.url },
        credentials,
      });
      expect(moved.status).toBe(422);
      expect(moved.body.error).toMatchObject({
        code: 'credentials_required',
        details: [{ path: 'config.webhookUrl' }],
      });
    }
    expect((await server.call('GET', '/v1/integrations/dc')).body.config.endpoint).toBe(first.url);

    expect((await sendChat(1)).status).toBe('sent');
    expect(first.requests.map((r) => r.path)).toEqual([`${DISCORD_WEBHOOK_PATH}?wait=true`]);
    expect(other.requests).toHaveLength(0);

    // The whole URL given again: the move is taken, and the next send goes there.
    const given = await server.call('PUT', '/v1/integrations/dc', {
      channel: 'chat',
      provider: 'discord',
      config: { webhookUrl: DISCORD_URL, endpoint: other.url },
    });
    expect(given.status).toBe(200);
    expect((await sendChat(2)).status).toBe('sent');
    expect(other.requests.map((r) => r.path)).toEqual([`${DISCORD_WEBHOOK_PATH}?wait=true`]);
    expect(first.requests).toHaveLength(1);
  });
});
