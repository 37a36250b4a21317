import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

/** A service-account key file as Google hands it out (with a key of our own). */
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serviceAccount = {
  type: 'service_account',
  project_id: 'tidings-prod',
  private_key_id: 'abc123',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  client_email: 'sender@tidings-prod.iam.gserviceaccount.com',
  client_id: '1234567890',
  token_uri: 'https://oauth2.googleapis.com/token',
};
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const vapid = webpush.generateVAPIDKeys();

describe('PUT /v1/integrations: fcm and webpush are checked offline', () => {
  // The default rule: no private target allowed.
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  const putFcm = (id: string, config: Record<string, unknown>, credentials?: Record<string, unknown>) =>
    server.call('PUT', `/v1/integrations/${id}`, {
      channel: 'push',
      provider: 'fcm',
      config,
      ...(credentials === undefined ? {} : { credentials }),
    });

  it('accepts a service account as an object or as its text, and never returns it', async () => {
    expect((await putFcm('fcm-object', { projectId: 'tidings-prod' }, { serviceAccount })).status).toBe(200);
    const text = await putFcm(
      'fcm-text',
      { projectId: 'tidings-prod' },
      { serviceAccount: JSON.stringify(serviceAccount, null, 2) },
    );
    expect(text.status).toBe(200);
    const view = await server.call('GET', '/v1/integrations/fcm-text');
    expect(view.body).toMatchObject({
      provider: 'fcm',
      channel: 'push',
      config: { projectId: 'tidings-prod' },
    });
    expect(JSON.stringify(view.body)).not.toContain('PRIVATE KEY');
  });

  const sa = 'credentials.serviceAccount';
  it.each([
    { what: 'text that is no JSON', value: 'not json {', path: sa },
    {
      what: 'no private key',
      value: { ...serviceAccount, private_key: undefined },
      path: `${sa}.private_key`,
    },
    {
      what: 'a key that is no PEM',
      value: { ...serviceAccount, private_key: 'MIIEv…' },
      path: `${sa}.private_key`,
    },
    {
      what: 'an EC key (Google signs RS256)',
      value: { ...serviceAccount, private_key: ecKey },
      path: `${sa}.private_key`,
    },
    {
      what: 'no client_email',
      value: { ...serviceAccount, client_email: undefined },
      path: `${sa}.client_email`,
    },
    {
      what: 'a client_email that is no address',
      value: { ...serviceAccount, client_email: 'sender' },
      path: `${sa}.client_email`,
    },
    { what: 'no token_uri', value: { ...serviceAccount, token_uri: undefined }, path: `${sa}.token_uri` },
    {
      what: 'a token_uri that is no URL',
      value: { ...serviceAccount, token_uri: 'oauth2/token' },
      path: `${sa}.token_uri`,
    },
    {
      what: 'another credential type',
      value: { ...serviceAccount, type: 'authorized_user' },
      path: `${sa}.type`,
    },
  ])('refuses a service account with $what: 422 naming $path', async ({ value, path }) => {
    const res = await putFcm('fcm-bad', { projectId: 'tidings-prod' }, { serviceAccount: value });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('unprocessable');
    expect(res.body.error.details[0].path).toBe(path);
    expect((await server.call('GET', '/v1/integrations/fcm-bad')).status).toBe(404);
  });

  it('refuses a service account that is neither an object nor text with 422 naming it', async () => {
    const res = await putFcm(
      'fcm-array',
      { projectId: 'tidings-prod' },
      { serviceAccount: [serviceAccount] },
    );
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toMatch(/^credentials\.serviceAccount/);
  });

  it.each([
    [
      'token_uri',
      { projectId: 'tidings-prod' },
      { ...serviceAccount, token_uri: 'http://127.0.0.1:9/token' },
      'credentials.serviceAccount.token_uri',
    ],
    [
      'token_uri (metadata)',
      { projectId: 'tidings-prod' },
      { ...serviceAccount, token_uri: 'http://169.254.169.254/token' },
      'credentials.serviceAccount.token_uri',
    ],
    [
      'endpoint',
      { projectId: 'tidings-prod', endpoint: 'http://localhost:8080' },
      serviceAccount,
      'config.endpoint',
    ],
  ])('refuses a private %s with 422 blocked_target', async (_, config, account, path) => {
    const res = await putFcm('fcm-private', config, { serviceAccount: account });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('blocked_target');
    expect(res.body.error.details[0].path).toBe(path);
  });

  it('refuses a missing or malformed projectId with 422 naming it', async () => {
    for (const config of [{}, { projectId: 'Has Spaces/and/slashes' }]) {
      const res = await putFcm('fcm-project', config, { serviceAccount });
      expect(res.status).toBe(422);
      expect(res.body.error.details[0].path).toBe('config.projectId');
    }
  });

  it('refuses fcm on a channel other than push', async () => {
    const res = await server.call('PUT', '/v1/integrations/fcm-email', {
      channel: 'email',
      provider: 'fcm',
      config: { projectId: 'tidings-prod' },
      credentials: { serviceAccount },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('channel');
  });

  it('keeps stored credentials for a priority change, asks for them again when the endpoint moves', async () => {
    expect((await putFcm('fcm-moves', { projectId: 'tidings-prod' }, { serviceAccount })).status).toBe(200);
    expect((await putFcm('fcm-moves', { projectId: 'tidings-prod' })).status).toBe(200);
    const moved = await putFcm('fcm-moves', {
      projectId: 'tidings-prod',
      endpoint: 'https://fcm.attacker.example',
    });
    expect(moved.status).toBe(422);
    expect(moved.body.error.code).toBe('credentials_required');
  });

  const putWebPush = (id: string, config: Record<string, unknown>, credentials: Record<string, unknown>) =>
    server.call('PUT', `/v1/integrations/${id}`, {
      channel: 'webpush',
      provider: 'webpush',
      config,
      credentials,
    });

  it('accepts a VAPID key pair with a mailto: or https: subject', async () => {
    const keys = { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey };
    expect((await putWebPush('wp-mail', { subject: 'mailto:ops@tidings.example' }, keys)).status).toBe(200);
    expect((await putWebPush('wp-https', { subject: 'https://tidings.example/contact' }, keys)).status).toBe(
      200,
    );
  });

  it.each([
    [
      'a public key of the wrong size',
      { vapidPublicKey: 'AAAA', vapidPrivateKey: vapid.privateKey },
      'credentials.vapidPublicKey',
    ],
    [
      'a private key that is no base64url',
      { vapidPublicKey: vapid.publicKey, vapidPrivateKey: 'a+b/c=' },
      'credentials.vapidPrivateKey',
    ],
    [
      'keys from two different pairs',
      { vapidPublicKey: vapid.publicKey, vapidPrivateKey: webpush.generateVAPIDKeys().privateKey },
      'credentials.vapidPrivateKey',
    ],
  ])('refuses %s with 422 naming the key', async (_, keys, path) => {
    const res = await putWebPush('wp-bad', { subject: 'mailto:ops@tidings.example' }, keys);
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe(path);
  });

  it('refuses a subject that is neither mailto: nor https: with 422 naming config.subject', async () => {
    const res = await putWebPush(
      'wp-subject',
      { subject: 'http://tidings.example' },
      { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey },
    );
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe('config.subject');
  });
});
