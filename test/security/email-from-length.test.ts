import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are read field by field and checked by assertions
type Json = any;

/**
 * An email integration's `config.from` is one header line of every message it sends: at most 998
 * characters (RFC 5322), the whole `Name <address>`. Found by the hostile-input sweep: a 400 KB
 * display name was a 200. Like every config field an integration cannot use, it is a 422 naming
 * config.from (API.md "Integrations").
 */
describe('an email integration refuses a from longer than one header line', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  const address = ' <alerts@acme.test>';
  const fromOf = (length: number) => `${'N'.repeat(length - address.length)}${address}`;
  const integration = (provider: string, from: string) =>
    ({
      smtp: {
        channel: 'email',
        provider,
        config: { host: 'smtp.example.com', port: 587, from },
        credentials: {},
      },
      ses: {
        channel: 'email',
        provider,
        config: { region: 'eu-west-1', from },
        credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' },
      },
      sendgrid: { channel: 'email', provider, config: { from }, credentials: { apiKey: 'SG.key' } },
    })[provider];

  it.each([
    ['smtp', 400_000],
    ['smtp', 999],
    ['ses', 400_000],
    ['ses', 999],
    ['sendgrid', 400_000],
    ['sendgrid', 999],
  ])('%s: a from of %i characters is a 422 naming config.from', async (provider, length) => {
    const answer = await server.call(
      'PUT',
      `/v1/integrations/long-from-${provider}`,
      integration(provider, fromOf(length)),
    );
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(422);
    expect(answer.body.error.code).toBe('unprocessable');
    expect(answer.body.error.details.map((d: Json) => d.path)).toEqual(['config.from']);
    expect(answer.body.error.message).toContain('998');
    expect((await server.call('GET', `/v1/integrations/long-from-${provider}`)).status).toBe(404);
  });

  it.each(['smtp', 'ses', 'sendgrid'])('%s: a from of exactly 998 characters is taken', async (provider) => {
    const answer = await server.call(
      'PUT',
      `/v1/integrations/from-${provider}`,
      integration(provider, fromOf(998)),
    );
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(200);
    expect(answer.body.config.from).toBe(fromOf(998));
  });
});
