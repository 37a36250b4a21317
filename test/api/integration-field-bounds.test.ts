import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PEM_MAX_LENGTH,
  SECRET_MAX_LENGTH,
  SERVICE_ACCOUNT_MAX_LENGTH,
  URL_MAX_LENGTH,
} from '../../src/providers/catalog.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Every string of an integration's credentials and config has a bound (docs/api-behaviour-notes.md):
 * a megabyte API key, token or PEM key was sealed and stored (200). Now it is a 422 naming the field,
 * and the longest value within the bound is taken.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const MEGABYTE = 1024 * 1024 - 1024;
const smtp = (credentials: Record<string, string>) => ({
  channel: 'email',
  provider: 'smtp',
  config: { host: 'smtp.example.com', port: 587, from: 'Acme <noreply@acme.example>' },
  credentials,
});

type Case = [field: string, body: (value: string) => unknown, max: number];

const CASES: Case[] = [
  ['credentials.pass', (pass) => smtp({ user: 'relay', pass }), SECRET_MAX_LENGTH],
  ['credentials.user', (user) => smtp({ user, pass: 'p' }), SECRET_MAX_LENGTH],
  [
    'credentials.authToken',
    (authToken) => ({
      channel: 'sms',
      provider: 'twilio',
      config: { from: '+15005550006' },
      credentials: { accountSid: 'AC0123456789abcdef0123456789abcdef', authToken },
    }),
    SECRET_MAX_LENGTH,
  ],
  [
    'credentials.secretAccessKey',
    (secretAccessKey) => ({
      channel: 'email',
      provider: 'ses',
      config: { region: 'eu-west-1', from: 'noreply@acme.example' },
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey },
    }),
    SECRET_MAX_LENGTH,
  ],
  [
    'credentials.apiKey',
    (apiKey) => ({
      channel: 'email',
      provider: 'sendgrid',
      config: { from: 'noreply@acme.example' },
      credentials: { apiKey },
    }),
    SECRET_MAX_LENGTH,
  ],
  [
    'credentials.secret',
    (secret) => ({
      channel: 'webhook',
      provider: 'webhook',
      config: { url: 'https://hooks.example.com/in' },
      credentials: { secret },
    }),
    SECRET_MAX_LENGTH,
  ],
];

describe("a webhook integration's secret", () => {
  it("may be short: API.md sets no length, and only the tenant's own receiver relies on it", async () => {
    const answer = await server.call('PUT', '/v1/integrations/short-secret', {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: 'https://hooks.example.com/in' },
      credentials: { secret: 's3cr3t' },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  });
});

describe('an integration credential string past its bound', () => {
  it.each(CASES)(
    '%s: over the bound or a megabyte is a 422 naming it; at the bound it is taken',
    async (field, body, max) => {
      const route = `/v1/integrations/${field.replace('.', '-')}`;
      for (const length of [max + 1, MEGABYTE]) {
        const answer = await server.call('PUT', route, body('k'.repeat(length)));
        expect(answer.status, `${field} of ${length}`).toBe(422);
        expect(answer.body.error.code).toBe('unprocessable');
        expect(answer.body.error.details).toEqual([
          { path: field, message: expect.stringContaining(String(max)) },
        ]);
      }
      const taken = await server.call('PUT', route, body('k'.repeat(max)));
      expect(taken.status, JSON.stringify(taken.body)).toBe(200);
    },
  );

  it('a DKIM private key past a PEM bound is a 422 naming it', async () => {
    const answer = await server.call(
      'PUT',
      '/v1/integrations/dkim',
      smtp({ user: 'relay', pass: 'p', dkimPrivateKey: 'k'.repeat(PEM_MAX_LENGTH + 1) }),
    );
    expect(answer.status).toBe(422);
    expect(answer.body.error.details).toEqual([
      { path: 'credentials.dkimPrivateKey', message: expect.stringContaining(String(PEM_MAX_LENGTH)) },
    ]);
  });

  it('a service account given as an object is held to the bound of its text', async () => {
    const answer = await server.call('PUT', '/v1/integrations/fcm', {
      channel: 'push',
      provider: 'fcm',
      config: { projectId: 'acme-app' },
      credentials: {
        serviceAccount: { type: 'service_account', private_key: 'k'.repeat(SERVICE_ACCOUNT_MAX_LENGTH) },
      },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error.details).toEqual([
      {
        path: 'credentials.serviceAccount',
        message: expect.stringContaining(String(SERVICE_ACCOUNT_MAX_LENGTH)),
      },
    ]);
  });
});

describe("a webhook integration's config.url past 2,048 characters", () => {
  const webhook = (url: string, enabled = true) => ({
    channel: 'webhook',
    provider: 'webhook',
    config: { url },
    credentials: { secret: 's'.repeat(32) },
    enabled,
  });
  const longUrl = (length: number) => {
    const base = 'https://hooks.example.com/in?';
    return base + 'q'.repeat(length - base.length);
  };

  it('is a 422 naming it when it is written; at the bound it is taken', async () => {
    for (const length of [URL_MAX_LENGTH + 1, MEGABYTE]) {
      const answer = await server.call('PUT', '/v1/integrations/hook', webhook(longUrl(length)));
      expect(answer.status, `a url of ${length}`).toBe(422);
      expect(answer.body.error.details).toEqual([
        { path: 'config.url', message: `must be at most ${URL_MAX_LENGTH} characters` },
      ]);
    }
    const taken = await server.call('PUT', '/v1/integrations/hook', webhook(longUrl(URL_MAX_LENGTH)));
    expect(taken.status, JSON.stringify(taken.body)).toBe(200);
  });

  it('stored before the bound, is kept by a PUT that disables the integration', async () => {
    const url = longUrl(URL_MAX_LENGTH + 100);
    await server.tidings.store.putIntegration(
      {
        tenantId: 'default',
        id: 'legacy-hook',
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
    const disabled = await server.call('PUT', '/v1/integrations/legacy-hook', webhook(url, false));
    expect(disabled.status, JSON.stringify(disabled.body)).toBe(200);
    expect(disabled.body.enabled).toBe(false);
  });
});
