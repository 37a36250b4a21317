import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: message views are read field by field and checked by assertions
type Json = any;

const SECRET = `whsec_${Buffer.from('credentials-test-signing-key').toString('base64')}`;

describe('finding 5: credentials re-targeted', () => {
  let server: TestServer;
  /** Holds only the integration under test, so sends cannot fail over to another one. */
  let mailServer: TestServer;
  let smtp: FakeSmtp;

  beforeAll(async () => {
    [server, mailServer, smtp] = await Promise.all([
      startTestServer(),
      startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
      startFakeSmtp(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([server?.close(), mailServer?.close(), smtp?.close()]);
  });

  beforeEach(() => smtp.reset());

  const smtpConfig = (extra: Record<string, unknown> = {}) => ({
    host: 'smtp.example.com',
    port: 587,
    from: 'Tidings <noreply@tidings.test>',
    ...extra,
  });

  const put = (id: string, body: Record<string, unknown>) =>
    server.call('PUT', `/v1/integrations/${id}`, body);

  it.each([
    ['another host', { host: 'smtp.attacker.example' }],
    ['another port', { port: 2525 }],
    ['plain-text AUTH switched on', { insecure: true }],
  ])(
    'an SMTP PUT that sends stored credentials to %s must carry them again (422 credentials_required)',
    async (_, change) => {
      const id = `mail-${Object.keys(change)[0]}`;
      const first = await put(id, {
        channel: 'email',
        provider: 'smtp',
        config: smtpConfig(),
        credentials: { user: 'relay', pass: 'relay-password' },
      });
      expect(first.status).toBe(200);

      const moved = await put(id, { channel: 'email', provider: 'smtp', config: smtpConfig(change) });
      expect(moved.status).toBe(422);
      expect(moved.body.error.code).toBe('credentials_required');
      expect(moved.body.error.details).toEqual([{ path: 'credentials', message: expect.any(String) }]);
      // Nothing changed: the stored target is still the first one.
      expect((await server.call('GET', `/v1/integrations/${id}`)).body.config).toEqual(smtpConfig());

      const withCredentials = await put(id, {
        channel: 'email',
        provider: 'smtp',
        config: smtpConfig(change),
        credentials: { user: 'relay', pass: 'new-password' },
      });
      expect(withCredentials.status).toBe(200);
    },
  );

  // Found by the acceptance audit: a Twilio integration PUT again as the sandbox kept the Twilio
  // auth token sealed in it (GET said hasCredentials: true), secrets the sandbox never uses.
  it('an integration PUT again as the sandbox keeps no credentials of the provider it replaces', async () => {
    const twilio = await put('texts', {
      channel: 'sms',
      provider: 'twilio',
      config: { from: '+15555550100' },
      credentials: { accountSid: `AC${'0'.repeat(32)}`, authToken: 'twilio-auth-token' },
    });
    expect(twilio.status).toBe(200);
    expect(twilio.body.hasCredentials).toBe(true);
    const sandbox = await put('texts', { channel: 'sms', provider: 'sandbox' });
    expect(sandbox.status).toBe(200);
    expect(sandbox.body.hasCredentials).toBe(false);
    expect((await server.call('GET', '/v1/integrations/texts')).body.hasCredentials).toBe(false);
    expect((await put('quiet', { channel: 'sms', provider: 'sandbox', credentials: {} })).body).toMatchObject(
      {
        hasCredentials: false,
      },
    );
    // Back to Twilio, the credentials must come again.
    const back = await put('texts', { channel: 'sms', provider: 'twilio', config: { from: '+15555550100' } });
    expect(back.status).toBe(422);
  });

  // Found by the acceptance audit: Slack takes no credentials (its webhook URL is the secret), yet
  // a Twilio integration PUT again as Slack with its whole URL answered 422 credentials_required,
  // the Twilio credentials standing in the way.
  it('an integration PUT again as a provider that takes no credentials needs none, and keeps none of the old one', async () => {
    const twilio = await put('alerts', {
      channel: 'sms',
      provider: 'twilio',
      config: { from: '+15555550100' },
      credentials: { accountSid: `AC${'0'.repeat(32)}`, authToken: 'twilio-auth-token' },
    });
    expect(twilio.status).toBe(200);
    const slack = await put('alerts', {
      channel: 'chat',
      provider: 'slack',
      config: { webhookUrl: 'https://hooks.slack.com/services/T000/B000/slack-secret-token' },
    });
    expect(slack.status, JSON.stringify(slack.body)).toBe(200);
    // Back to Twilio: its credentials were not carried along, so they must come again.
    const back = await put('alerts', {
      channel: 'sms',
      provider: 'twilio',
      config: { from: '+15555550100' },
    });
    expect(back.status).toBe(422);
  });

  it('a webhook PUT with another URL and no secret answers 422 credentials_required', async () => {
    expect(
      (
        await put('hook', {
          channel: 'webhook',
          provider: 'webhook',
          config: { url: 'https://hooks.example.com/a' },
          credentials: { secret: SECRET },
        })
      ).status,
    ).toBe(200);
    const moved = await put('hook', {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: 'https://elsewhere.example.net/a' },
    });
    expect(moved.status).toBe(422);
    expect(moved.body.error).toMatchObject({
      code: 'credentials_required',
      details: [{ path: 'credentials' }],
    });
  });

  it('checks DKIM at PUT, offline: a missing key, or one that is not an RSA private key in PEM, is a 422 naming it', async () => {
    const dkim = { domainName: 'tidings.test', keySelector: 'mail' };
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'credentials.dkimPrivateKey'],
      [{ dkimPrivateKey: 'hunter2' }, 'credentials.dkimPrivateKey'],
      [
        { dkimPrivateKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
        'credentials.dkimPrivateKey',
      ],
      // The SMTP transport signs with RSA only: an Ed25519 key would leave every email unsigned.
      [
        {
          dkimPrivateKey: generateKeyPairSync('ed25519')
            .privateKey.export({ type: 'pkcs8', format: 'pem' })
            .toString(),
        },
        'credentials.dkimPrivateKey',
      ],
    ];
    for (const [credentials, path] of cases) {
      const res = await put('dkim', {
        channel: 'email',
        provider: 'smtp',
        config: smtpConfig({ dkim }),
        credentials,
      });
      expect(res.status).toBe(422);
      expect(res.body.error.details[0].path).toBe(path);
      expect(JSON.stringify(res.body)).not.toContain('hunter2');
    }
    expect((await server.call('GET', '/v1/integrations/dkim')).status).toBe(404);
    const good = await put('dkim', {
      channel: 'email',
      provider: 'smtp',
      // Unreachable on purpose: a PUT never contacts the provider.
      config: smtpConfig({ dkim, host: 'unreachable.invalid' }),
      credentials: { dkimPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    });
    expect(good.status).toBe(200);
  });

  /** Sends one email through `integration`; answers the message once `settled` says it is. */
  async function sendMail(
    integration: Record<string, unknown>,
    settled: (message: Json) => boolean = (message) => ['sent', 'failed', 'dead'].includes(message.status),
  ): Promise<Json> {
    expect((await mailServer.call('PUT', '/v1/integrations/relay', integration)).status).toBe(200);
    expect(
      (
        await mailServer.call('PUT', '/v1/workflows/mail-only', {
          name: 'mail only',
          channels: [{ channel: 'email', template: { subject: 'Hi', text: 'Hello' } }],
        })
      ).status,
    ).toBe(200);
    const event = await mailServer.call('POST', '/v1/events', {
      workflow: 'mail-only',
      to: [{ subscriberId: 'ada', email: 'ada@example.test' }],
    });
    return waitFor(async () => {
      const view = (await mailServer.call('GET', `/v1/events/${event.body.eventId}`)).body;
      const message = view.messages?.[0];
      if (!message) return null;
      const full = (await mailServer.call('GET', `/v1/messages/${message.messageId}`)).body;
      return settled(full) ? full : null;
    }, 'the email to settle');
  }

  it('never sends AUTH to a server that offers no STARTTLS (the integration counts as broken, no AUTH line arrives) unless "insecure": true', async () => {
    // Such an integration is broken, not the message: it is retried (and would fail over to
    // another integration), never sent without TLS.
    const message = await sendMail(
      {
        channel: 'email',
        provider: 'smtp',
        config: { host: smtp.host, port: smtp.port, from: 'Tidings <noreply@tidings.test>' },
        credentials: { user: 'relay', pass: 'relay-password' },
      },
      (m) => m.timeline.some((entry: Json) => /STARTTLS/.test(entry.detail ?? '')),
    );
    expect(message.status).not.toBe('sent');
    expect(smtp.commands.some((line) => /^EHLO /i.test(line))).toBe(true);
    expect(smtp.commands.some((line) => /^AUTH\b/i.test(line))).toBe(false);
    expect(smtp.received).toHaveLength(0);

    const insecure = await sendMail({
      channel: 'email',
      provider: 'smtp',
      config: { host: smtp.host, port: smtp.port, from: 'Tidings <noreply@tidings.test>', insecure: true },
      credentials: { user: 'relay', pass: 'relay-password' },
    });
    expect(insecure.status).toBe('sent');
    const [mail] = await smtp.waitFor(1);
    expect(mail?.user).toBe('relay');
  });

  it('an integration stored before PUT checked its DKIM key fails its messages at once, not after eight tries', async () => {
    const own = await startTestServer();
    try {
      // Written straight to the store, as an earlier version accepted it.
      await own.tidings.store.putIntegration(
        {
          tenantId: 'default',
          id: 'legacy',
          channel: 'email',
          provider: 'smtp',
          priority: 1,
          config: smtpConfig({ dkim: { domainName: 'tidings.test', keySelector: 'mail' } }),
          sealedCredentials: null,
          enabled: true,
        },
        Date.now(),
      );
      const workflow = await own.call('PUT', '/v1/workflows/legacy', {
        name: 'legacy',
        channels: [{ channel: 'email', template: { subject: 'Hi', text: 'Hello' } }],
      });
      expect(workflow.status).toBe(200);
      const event = await own.call('POST', '/v1/events', {
        workflow: 'legacy',
        to: [{ subscriberId: 'ada', email: 'ada@example.test' }],
      });
      const message = await waitFor(async () => {
        const view = (await own.call('GET', `/v1/events/${event.body.eventId}`)).body;
        const first = view.messages?.[0];
        return first && ['failed', 'dead'].includes(first.status)
          ? (await own.call('GET', `/v1/messages/${first.messageId}`)).body
          : null;
      }, 'the legacy integration message to fail');
      expect(message).toMatchObject({ status: 'failed', reason: 'provider_rejected' });
      expect(message.lastError).toContain('credentials.dkimPrivateKey');
      const attempts = message.timeline.filter((e: { status: string }) => e.status === 'sending');
      expect(attempts).toHaveLength(1);
    } finally {
      await own.close();
    }
  });
});

describe('finding 5: integration config takes only the fields its provider names', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    [
      'a webhook timeout',
      'webhook',
      { url: 'https://hooks.example.com/in', timeoutMs: 2_147_483_647 },
      'config.timeoutMs',
    ],
    [
      'an SMTP proxy',
      'smtp',
      { host: 'smtp.example.com', port: 587, from: 'a@example.com', proxy: 'socks5://x' },
      'config.proxy',
    ],
  ])(
    'refuses %s the adapter would read (422 naming the field), storing nothing',
    async (_, provider, config, path) => {
      const channel = provider === 'smtp' ? 'email' : 'webhook';
      const credentials = provider === 'smtp' ? {} : { secret: SECRET };
      const answer = await server.call('PUT', `/v1/integrations/extra-${provider}`, {
        channel,
        provider,
        config,
        credentials,
      });
      expect(answer.status).toBe(422);
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
      expect((await server.call('GET', `/v1/integrations/extra-${provider}`)).status).toBe(404);
    },
  );
});
