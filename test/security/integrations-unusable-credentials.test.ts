import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are read field by field and checked by assertions
type Json = any;

/**
 * Credentials and settings a client can be built with but that break every send (or sign with less
 * than was given) are a 422 at PUT naming the field — never a failure found at send time (API.md
 * "Integrations": config and credentials are checked at PUT). Found by the hostile-input sweep:
 * each of these was a 200.
 */
describe('integration PUT refuses settings no send could use', () => {
  let server: TestServer;
  const dkimPrivateKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  const put = (id: string, body: Record<string, unknown>) =>
    server.call('PUT', `/v1/integrations/${id}`, body);

  const expectRefused = async (id: string, body: Record<string, unknown>, path: string) => {
    const answer = await put(id, body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.body.error.code).toBe('unprocessable');
    expect(answer.body.error.details.map((d: Json) => d.path)).toEqual([path]);
    // Nothing half-written: the integration does not exist.
    expect((await server.call('GET', `/v1/integrations/${id}`)).status).toBe(404);
  };

  const smtp = (config: Record<string, unknown>, credentials: Record<string, unknown>) => ({
    channel: 'email',
    provider: 'smtp',
    config: { host: 'smtp.example.com', port: 587, from: 'a@acme.test', ...config },
    credentials,
  });

  it.each([
    // nodemailer fails every send at AUTH: 'Missing credentials for "PLAIN"'.
    ['a user without a password', { user: 'relay' }, 'credentials.pass'],
    ['an empty password', { user: 'relay', pass: '' }, 'credentials.pass'],
    // Never authenticates: the password is silently unused.
    ['a password without a user', { pass: 'hunter2' }, 'credentials.user'],
    ['an empty user', { user: '', pass: 'hunter2' }, 'credentials.user'],
  ])('SMTP: %s', async (_, credentials, path) => {
    await expectRefused('smtp-login', smtp({}, credentials), path);
  });

  it.each([
    [
      'a domain with a line break',
      { domainName: 'acme.test\r\nBcc: x@evil.test', keySelector: 's1' },
      'domainName',
    ],
    ['a domain with a tag separator', { domainName: 'acme.test; t=y', keySelector: 's1' }, 'domainName'],
    ['an empty domain', { domainName: '', keySelector: 's1' }, 'domainName'],
    ['a selector with a space', { domainName: 'acme.test', keySelector: 's 1' }, 'keySelector'],
    ['an empty selector', { domainName: 'acme.test', keySelector: '' }, 'keySelector'],
  ])('SMTP DKIM: %s (the signature would be mangled and fail at every receiver)', async (_, dkim, field) => {
    await expectRefused('smtp-dkim', smtp({ dkim }, { dkimPrivateKey }), `config.dkim.${field}`);
  });

  // Found by the hostile-input sweep: each was a 200, stored, and changed nothing about a send.
  it('SMTP: a DKIM key without config.dkim (it would never sign) names credentials.dkimPrivateKey', async () => {
    await expectRefused('smtp-dkim-key', smtp({}, { dkimPrivateKey }), 'credentials.dkimPrivateKey');
  });

  it.each([
    ['without a user to log in with', {}, {}],
    ['with secure (TLS from the first byte)', { secure: true }, { user: 'relay', pass: 'hunter2' }],
  ])('SMTP: insecure %s does nothing and names config.insecure', async (_, config, credentials) => {
    await expectRefused('smtp-insecure', smtp({ insecure: true, ...config }, credentials), 'config.insecure');
  });

  it('SMTP: insecure with a user on a plain connection is taken', async () => {
    const ok = await put('smtp-insecure-ok', smtp({ insecure: true }, { user: 'relay', pass: 'hunter2' }));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  // Found by the hostile-input sweep: each was a 200 and failed every send (no such host).
  it.each([
    '"smtp.example.com"',
    'mailto:x',
    'smtp://smtp.example.com',
    'smtp.example.com:587',
    'smtp example.com',
    ' smtp.example.com',
    'relay/smtp',
    '[smtp.example.com]',
    'bücher.example',
  ])('SMTP: the host %j (no host name or IP address) names config.host', async (host) => {
    // An id of its own: a host taken by mistake must not make the next case's 404 check fail.
    await expectRefused(`smtp-host-${Buffer.from(host).toString('hex')}`, smtp({ host }, {}), 'config.host');
  });

  it.each([
    'smtp.example.com',
    'mail-relay_1.example.com.',
    '203.0.114.9',
    '2606:4700::1111',
    '[2606:4700::1111]',
  ])('SMTP: the host %j is taken', async (host) => {
    const ok = await put('smtp-host-ok', smtp({ host }, {}));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it.each([
    [
      'webhook',
      'webhook',
      { url: 'https://"hooks.example.com"/tidings' },
      { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
      'config.url',
    ],
    ['chat', 'slack', { webhookUrl: 'https://hooks.{slack}.com/services/T/B/x' }, {}, 'config.webhookUrl'],
    [
      'email',
      'sendgrid',
      { from: 'a@acme.test', endpoint: 'https://api!sendgrid.com' },
      { apiKey: 'SG.abc.def' },
      'config.endpoint',
    ],
  ])(
    '%s (%s): a URL whose host has characters no DNS name has names the field',
    async (channel, provider, config, credentials, path) => {
      await expectRefused(`url-host-${provider}`, { channel, provider, config, credentials }, path);
    },
  );

  it('SMTP: a host stored before the rule can be kept by a PUT that changes something else', async () => {
    const config = { host: '"smtp.example.com"', port: 587, from: 'a@acme.test' };
    await server.tidings.store.putIntegration(
      {
        tenantId: 'default',
        id: 'smtp-legacy-host',
        channel: 'email',
        provider: 'smtp',
        priority: 1,
        config,
        sealedCredentials: null,
        enabled: true,
      },
      Date.now(),
    );
    const kept = await put('smtp-legacy-host', { channel: 'email', provider: 'smtp', config, priority: 2 });
    expect(kept.status, JSON.stringify(kept.body)).toBe(200);
    const moved = await put('smtp-legacy-host', {
      ...smtp({ host: '"smtp.example.org"' }, {}),
    });
    expect(moved.status).toBe(422);
    expect(moved.body.error.details.map((d: Json) => d.path)).toEqual(['config.host']);
  });

  it('SMTP: a login and DKIM names that are right are taken', async () => {
    const ok = await put(
      'smtp-ok',
      smtp(
        { dkim: { domainName: 'mail.acme.test', keySelector: 's1._x-y' } },
        { user: 'relay', pass: 'hunter2', dkimPrivateKey },
      ),
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    // A later PUT without credentials keeps the stored ones and is not checked again.
    const { credentials: _, ...withoutCredentials } = smtp(
      { dkim: { domainName: 'mail.acme.test', keySelector: 's1._x-y' } },
      {},
    );
    const reprioritised = await put('smtp-ok', { ...withoutCredentials, priority: 2 });
    expect(reprioritised.status, JSON.stringify(reprioritised.body)).toBe(200);
  });

  it.each([
    ['a trailing newline', 'SG.abcdefghijklmnop.qrstuvwxyz0123456789\n'],
    ['a line break and a header', 'SG.abc.def\r\nX-Injected: 1'],
    ['a space', 'SG.abc def'],
    ['a non-Latin-1 character', 'SG.ключ'],
  ])('SendGrid: an API key with %s (no Authorization header can carry it)', async (_, apiKey) => {
    await expectRefused(
      'sendgrid-key',
      { channel: 'email', provider: 'sendgrid', config: { from: 'a@acme.test' }, credentials: { apiKey } },
      'credentials.apiKey',
    );
  });

  it.each([
    // Node's base64 decoder skips these characters: the HMAC key would be empty, known to everyone.
    ['no base64 at all', 'whsec_!!!!!!!!!!!!!!!!!!!!'],
    ['a space inside', 'whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw'],
    ['too little base64 (9 bytes)', 'whsec_AAAAAAAAAAAA'],
  ])('webhook: a whsec_ secret with %s', async (_, secret) => {
    await expectRefused(
      'hook-secret',
      {
        channel: 'webhook',
        provider: 'webhook',
        config: { url: 'https://hooks.example.com/tidings' },
        credentials: { secret },
      },
      'credentials.secret',
    );
  });

  it.each([
    ['a whsec_ secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['a whsec_ secret in base64url with padding', 'whsec_MfKQ9r8GKYqrTwjU_D8ILPZIo2La-w=='],
    ['a raw secret with any characters', 'not base64 at all, but long enough'],
  ])('webhook: %s is taken', async (_, secret) => {
    const ok = await put('hook-ok', {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: 'https://hooks.example.com/tidings' },
      credentials: { secret },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });
});

describe('integration PUT names the field at fault', () => {
  let server: TestServer;

  beforeAll(async () => {
    // No TIDINGS_ALLOW_PRIVATE_TARGETS: the private-target rule is on.
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(['x@169.254.169.254/', 'x@[::1]:443/'])(
    'SES: the region %j is refused as no region (config.region), not as a blocked config.endpoint',
    async (region) => {
      // Found by the hostile-input sweep: the default endpoint built from this region
      // (https://email.x@169.254.169.254/.amazonaws.com) was checked first, and the 422 blamed
      // config.endpoint, a field the request never gave.
      const answer = await server.call('PUT', '/v1/integrations/ses-region', {
        channel: 'email',
        provider: 'ses',
        config: { region, from: 'a@acme.test' },
        credentials: {
          accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        },
      });
      expect(answer.status).toBe(422);
      expect(answer.body.error.code).toBe('unprocessable');
      expect(answer.body.error.details).toEqual([
        { path: 'config.region', message: 'must be an AWS region such as us-east-1' },
      ]);
    },
  );
});

describe('webhook integration URLs', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  it('refuses a user name or password in the URL (never sent; GET would show the password)', async () => {
    // Found by the hostile-input sweep: taken with a 200, echoed whole by GET /v1/integrations,
    // and dropped from every request, so a receiver that wanted it refused every message.
    const answer = await server.call('PUT', '/v1/integrations/hook-userinfo', {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: 'https://relay:hunter2@hooks.example.com/tidings' },
      credentials: { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error.details.map((d: Json) => d.path)).toEqual(['config.url']);
    const listed = await server.call('GET', '/v1/integrations');
    expect(JSON.stringify(listed.body)).not.toContain('hunter2');
  });

  it('never shows the password of a URL stored before PUT refused one', async () => {
    const { store } = server.tidings;
    const url = 'https://relay:hunter2@hooks.example.com/tidings';
    await store.putIntegration(
      {
        tenantId: 'default',
        id: 'hook-stored-userinfo',
        channel: 'webhook',
        provider: 'webhook',
        priority: 1,
        config: { url },
        sealedCredentials: null,
        enabled: true,
        perSecond: null,
      },
      Date.now(),
    );
    const one = await server.call('GET', '/v1/integrations/hook-stored-userinfo');
    expect(one.status).toBe(200);
    expect(one.body.config.url).toBe('https://***:***@hooks.example.com/tidings');
    const listed = await server.call('GET', '/v1/integrations');
    expect(JSON.stringify(listed.body)).not.toContain('hunter2');
    expect(JSON.stringify(listed.body)).not.toContain('relay');
  });
});
