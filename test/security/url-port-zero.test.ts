import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are read field by field and checked by assertions
type Json = any;

/**
 * A URL naming port 0 parses (`https://h:0/` keeps port '0') but nothing can be reached on it: it
 * was stored and then failed every send. Found by the hostile-input sweep; each was a 200. It is
 * refused where the URL is written, naming the field, with the status each route gives a bad URL.
 */
describe('a URL with port 0 is refused where it is written', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  const paths = (answer: { body: Json }) => answer.body.error.details.map((d: Json) => d.path);

  it.each([
    [
      'webhook config.url',
      {
        channel: 'webhook',
        provider: 'webhook',
        config: { url: 'https://hooks.example.test:0/in' },
        credentials: { secret: 'a-secret-of-sixteen+' },
      },
      'config.url',
    ],
    [
      'webhook config.url, spelled :00',
      {
        channel: 'webhook',
        provider: 'webhook',
        config: { url: 'https://hooks.example.test:00/in' },
        credentials: { secret: 'a-secret-of-sixteen+' },
      },
      'config.url',
    ],
    [
      'SendGrid config.endpoint',
      {
        channel: 'email',
        provider: 'sendgrid',
        config: { from: 'a@acme.test', endpoint: 'https://api.example.test:0' },
        credentials: { apiKey: 'SG.x' },
      },
      'config.endpoint',
    ],
    [
      'Twilio config.endpoint',
      {
        channel: 'sms',
        provider: 'twilio',
        config: { from: '+15550001111', endpoint: 'https://api.example.test:0' },
        credentials: { accountSid: 'AC1', authToken: 't' },
      },
      'config.endpoint',
    ],
    [
      'Slack config.webhookUrl',
      {
        channel: 'chat',
        provider: 'slack',
        config: { webhookUrl: 'https://hooks.slack.com:0/services/T/B/x' },
      },
      'config.webhookUrl',
    ],
    [
      'Discord config.endpoint',
      {
        channel: 'chat',
        provider: 'discord',
        config: {
          webhookUrl: 'https://discord.com/api/webhooks/1/x',
          endpoint: 'https://proxy.example.test:0',
        },
      },
      'config.endpoint',
    ],
    [
      'FCM config.endpoint',
      {
        channel: 'push',
        provider: 'fcm',
        config: { projectId: 'p', endpoint: 'https://fcm.example.test:0' },
        credentials: { serviceAccount: '{}' },
      },
      'config.endpoint',
    ],
  ])('integration PUT: %s is a 422 naming it', async (_, body, path) => {
    const answer = await server.call('PUT', '/v1/integrations/port-zero', body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.body.error.code).toBe('unprocessable');
    expect(paths(answer)).toEqual([path]);
    expect(answer.body.error.message).toContain('port 0');
    expect((await server.call('GET', '/v1/integrations/port-zero')).status).toBe(404);
  });

  it('integration PUT: the same URL on another port is taken', async () => {
    const answer = await server.call('PUT', '/v1/integrations/port-ok', {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: 'https://hooks.example.test:8443/in' },
      credentials: { secret: 'a-secret-of-sixteen+' },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  });

  it('webhook endpoint PUT: url with port 0 is a 400 naming url; another port is taken', async () => {
    const answer = await server.call('PUT', '/v1/webhook-endpoints/port-zero', {
      url: 'https://hooks.example.test:0/status',
      events: ['message.sent'],
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error.code).toBe('validation_failed');
    expect(paths(answer)).toEqual(['url']);
    expect(answer.body.error.message).toContain('port 0');
    const ok = await server.call('PUT', '/v1/webhook-endpoints/port-ok', {
      url: 'https://hooks.example.test:8443/status',
      events: ['message.sent'],
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
  });

  it('device PUT: a web push subscription.endpoint with port 0 is a 400 naming it', async () => {
    const keys = {
      p256dh: Buffer.concat([Buffer.from([0x04]), Buffer.alloc(64, 7)]).toString('base64url'),
      auth: Buffer.alloc(16, 9).toString('base64url'),
    };
    const answer = await server.call('PUT', '/v1/subscribers/dana/devices/browser', {
      platform: 'webpush',
      subscription: { endpoint: 'https://push.example.test:0/send/abcd', keys },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error.code).toBe('validation_failed');
    expect(paths(answer)).toEqual(['subscription.endpoint']);
  });
});
