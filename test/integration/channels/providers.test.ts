import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpProviderFake } from '../../fakes/http-provider.ts';
import { LOOPBACK_TARGETS } from '../../fakes/outbound.ts';
import { SLACK_WEBHOOK_PATH, startSlackFake } from '../../fakes/slack.ts';
import {
  startTwilioFake,
  TWILIO_ERRORS,
  TWILIO_TEST_SID,
  TWILIO_TEST_TOKEN,
  type TwilioFake,
} from '../../fakes/twilio.ts';
import { settledMessages } from '../../helpers/messages.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are read field by field and checked by assertions
type Json = any;

const twilioCredentials = { accountSid: TWILIO_TEST_SID, authToken: TWILIO_TEST_TOKEN };
const SLACK_URL = `https://hooks.slack.com${SLACK_WEBHOOK_PATH}`;

describe('provider integrations through the API', () => {
  let server: TestServer;
  let twilio: TwilioFake;
  let slack: HttpProviderFake;

  beforeAll(async () => {
    [server, twilio, slack] = await Promise.all([
      startTestServer({
        TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
        TIDINGS_PUBLIC_URL: 'https://notify.example.test',
      }),
      startTwilioFake(),
      startSlackFake(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), twilio?.close(), slack?.close()]);
  });

  const put = (id: string, body: Record<string, unknown>) =>
    server.call('PUT', `/v1/integrations/${id}`, body);
  // The fields named, each once (a nullable field's union names it once per branch).
  const refusal = (response: { status: number; body: Json }) => ({
    status: response.status,
    code: response.body.error?.code,
    paths: response.body.error?.details && [
      ...new Set(response.body.error.details.map((d: { path: string }) => d.path)),
    ],
  });

  describe('PUT checks config and credentials offline: 422 naming the field', () => {
    it.each([
      ['twilio without from or messagingServiceSid', 'sms', 'twilio', {}, twilioCredentials, 'config.from'],
      [
        'twilio with both from and messagingServiceSid',
        'sms',
        'twilio',
        { from: '+15550001111', messagingServiceSid: `MG${'a'.repeat(32)}` },
        twilioCredentials,
        'config.messagingServiceSid',
      ],
      [
        'twilio with a from that is no sender',
        'sms',
        'twilio',
        { from: '+1 (555) 000' },
        twilioCredentials,
        'config.from',
      ],
      [
        'twilio with an accountSid that is not AC + 32 hex',
        'sms',
        'twilio',
        { from: '+15550001111' },
        { accountSid: 'AC123', authToken: 't' },
        'credentials.accountSid',
      ],
      [
        'twilio with an endpoint that is no http(s) URL',
        'sms',
        'twilio',
        { from: '+15550001111', endpoint: 'ftp://api.twilio.com' },
        twilioCredentials,
        'config.endpoint',
      ],
      [
        'ses with a region that is no AWS region',
        'email',
        'ses',
        { region: 'mars', from: 'a@acme.test' },
        { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 's' },
        'config.region',
      ],
      [
        'ses with a from that is no address',
        'email',
        'ses',
        { region: 'eu-west-1', from: 'Acme <nobody>' },
        { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 's' },
        'config.from',
      ],
      [
        'ses with an access key id that is none',
        'email',
        'ses',
        { region: 'eu-west-1', from: 'a@acme.test' },
        { accessKeyId: 'my key', secretAccessKey: 's' },
        'credentials.accessKeyId',
      ],
      [
        'sendgrid with a from that is no address',
        'email',
        'sendgrid',
        { from: 'alerts' },
        { apiKey: 'SG.x' },
        'config.from',
      ],
      [
        'smtp with a from that is no address',
        'email',
        'smtp',
        { host: 'smtp.acme.test', port: 587, from: 'Acme <noreply>' },
        undefined,
        'config.from',
      ],
      [
        'slack with a webhook URL that is no http(s) URL',
        'chat',
        'slack',
        { webhookUrl: 'ftp://hooks.slack.com/services/T/B/x' },
        undefined,
        'config.webhookUrl',
      ],
      [
        'discord with a webhook URL without a path',
        'chat',
        'discord',
        { webhookUrl: 'http://discord.example.test/' },
        undefined,
        'config.webhookUrl',
      ],
      // URL parsers drop tabs and line breaks: such a URL would be stored as one thing and called as another.
      [
        'slack with a line break in its webhook URL',
        'chat',
        'slack',
        { webhookUrl: 'https://hooks.slack.com/services/T/B/x\r\nX: y' },
        undefined,
        'config.webhookUrl',
      ],
      [
        'sendgrid with a tab in its endpoint',
        'email',
        'sendgrid',
        { from: 'a@acme.test', endpoint: 'https://api.sendgrid.test/\tv3' },
        { apiKey: 'SG.x' },
        'config.endpoint',
      ],
      [
        'webhook with a line break in its URL',
        'webhook',
        'webhook',
        { url: 'https://hooks.acme.test/in\nX: y' },
        { secret: 'whsec_0123456789abcdef' },
        'config.url',
      ],
      [
        'apns with a space in its endpoint',
        'push',
        'apns',
        {
          teamId: 'TEAM123456',
          keyId: 'KEY1234567',
          bundleId: 'com.acme.app',
          environment: 'production',
          endpoint: 'https://api.push.apple.test/ x',
        },
        { privateKey: 'not checked: the config is refused first' },
        'config.endpoint',
      ],
      [
        'discord with a webhook URL that is no URL',
        'chat',
        'discord',
        { webhookUrl: 'discord' },
        undefined,
        'config.webhookUrl',
      ],
    ])('%s', async (_name, channel, provider, config, credentials, path) => {
      const response = await put(`bad-${provider}`, { channel, provider, config, credentials });
      expect(refusal(response)).toEqual({ status: 422, code: 'unprocessable', paths: [path] });
      expect((await server.call('GET', `/v1/integrations/bad-${provider}`)).status).toBe(404);
    });

    it('refuses a provider on a channel it does not serve (400), and a field the schema does not name (422)', async () => {
      expect(
        refusal(await put('x', { channel: 'email', provider: 'twilio', config: { from: '+15550001111' } })),
      ).toMatchObject({ status: 400, paths: ['channel'] });
      expect(
        refusal(
          await put('x', {
            channel: 'sms',
            provider: 'twilio',
            config: { from: '+15550001111', proxy: 'http://x' },
            credentials: twilioCredentials,
          }),
        ),
      ).toMatchObject({ status: 422, paths: ['config.proxy'] });
    });

    it('applies the private-target rule to endpoints and webhook URLs (422 blocked_target)', async () => {
      const strict = await startTestServer();
      try {
        const response = await strict.call('PUT', '/v1/integrations/chat', {
          channel: 'chat',
          provider: 'discord',
          config: { webhookUrl: 'https://169.254.169.254/api/webhooks/1/x' },
        });
        expect(refusal(response)).toEqual({
          status: 422,
          code: 'blocked_target',
          paths: ['config.webhookUrl'],
        });
        const twilioResponse = await strict.call('PUT', '/v1/integrations/sms', {
          channel: 'sms',
          provider: 'twilio',
          config: { from: '+15550001111', endpoint: 'http://127.0.0.1:9' },
          credentials: twilioCredentials,
        });
        expect(refusal(twilioResponse)).toEqual({
          status: 422,
          code: 'blocked_target',
          paths: ['config.endpoint'],
        });
      } finally {
        await strict.close();
      }
    });

    it('asks for the credentials again when the endpoint moves (422 credentials_required)', async () => {
      const body = {
        channel: 'sms',
        provider: 'twilio',
        config: { from: '+15550001111' },
        credentials: twilioCredentials,
      };
      expect((await put('moving', body)).status).toBe(200);
      const moved = await put('moving', {
        channel: 'sms',
        provider: 'twilio',
        config: { from: '+15550001111', endpoint: 'https://twilio-proxy.example.test' },
      });
      expect(refusal(moved)).toEqual({ status: 422, code: 'credentials_required', paths: ['credentials'] });
      // The same endpoint keeps the stored credentials.
      expect((await put('moving', { ...body, credentials: undefined, priority: 3 })).status).toBe(200);
    });
  });

  describe('a chat webhook URL is a secret', () => {
    it('is never returned: GET shows it masked, and a GET copied into a PUT keeps working', async () => {
      const first = await put('team-chat', {
        channel: 'chat',
        provider: 'slack',
        config: { webhookUrl: SLACK_URL, endpoint: slack.url },
      });
      expect(first.status).toBe(200);
      expect(first.body.config).toEqual({ webhookUrl: 'https://hooks.slack.com/…XXXX', endpoint: slack.url });
      const list = await server.call('GET', '/v1/integrations');
      expect(JSON.stringify(list.body)).not.toContain(SLACK_WEBHOOK_PATH);
      expect(JSON.stringify((await server.call('GET', '/v1/integrations/team-chat')).body)).not.toContain(
        SLACK_WEBHOOK_PATH,
      );

      // What GET showed, sent back with another priority: the sealed URL stays.
      const copied = await put('team-chat', {
        channel: 'chat',
        provider: 'slack',
        priority: 2,
        config: first.body.config,
      });
      expect(copied.status).toBe(200);
      await server.call('PUT', '/v1/workflows/deploys', {
        channels: [{ channel: 'chat', template: { text: 'Deploy {{ data.n }} done' } }],
      });
      const event = await server.call('POST', '/v1/events', {
        workflow: 'deploys',
        to: ['ops'],
        data: { n: 7 },
      });
      expect(event.status).toBe(202);
      const [message] = await settledMessages(server, [event.body.eventId], 1);
      expect(message.status).toBe('sent');
      const request = slack.requests.at(-1)!;
      expect(request.path).toBe(SLACK_WEBHOOK_PATH);
      expect(JSON.parse(request.body)).toEqual({ text: 'Deploy 7 done' });
    });

    it('may be http://, held to the private-target rule like any URL (API.md sets no scheme rule)', async () => {
      const url = `${slack.url}${SLACK_WEBHOOK_PATH}`;
      const plain = await put('plain-chat', {
        channel: 'chat',
        provider: 'slack',
        config: { webhookUrl: url },
      });
      expect(plain.status).toBe(200);
      expect(plain.body.config).toEqual({ webhookUrl: `${slack.url}/…XXXX` });
      await server.call('PUT', '/v1/workflows/plain', {
        channels: [{ channel: 'chat', template: { text: 'Plain {{ data.n }}' } }],
      });
      const before = slack.requests.length;
      const event = await server.call('POST', '/v1/events', {
        workflow: 'plain',
        to: ['ops'],
        data: { n: 1 },
      });
      const [message] = await settledMessages(server, [event.body.eventId], 1);
      // Priority 1, before team-chat (2): the send goes to the http URL itself, no endpoint.
      expect(message).toMatchObject({ status: 'sent', provider: 'plain-chat' });
      expect(slack.requests.slice(before).map((r) => [r.path, JSON.parse(r.body)])).toEqual([
        [SLACK_WEBHOOK_PATH, { text: 'Plain 1' }],
      ]);

      const strict = await startTestServer();
      try {
        const blocked = await strict.call('PUT', '/v1/integrations/plain-chat', {
          channel: 'chat',
          provider: 'discord',
          config: { webhookUrl: 'http://127.0.0.1:9/api/webhooks/1/x' },
        });
        expect(refusal(blocked)).toEqual({
          status: 422,
          code: 'blocked_target',
          paths: ['config.webhookUrl'],
        });
      } finally {
        await strict.close();
      }
    });

    it('refuses a masked URL that stands for no stored one (422)', async () => {
      const response = await put('other-chat', {
        channel: 'chat',
        provider: 'discord',
        config: { webhookUrl: 'https://hooks.slack.com/…XXXX' },
      });
      expect(refusal(response)).toEqual({ status: 422, code: 'unprocessable', paths: ['config.webhookUrl'] });
    });
  });

  describe('a URL with whitespace or a control character', () => {
    it('is refused when given, and passes when it is the one the integration already had', async () => {
      const body = {
        channel: 'email',
        provider: 'sendgrid',
        config: { from: 'a@acme.test', endpoint: 'https://api.sendgrid.test/v3' },
        credentials: { apiKey: 'SG.x' },
      };
      expect((await put('legacy-mail', body)).status).toBe(200);
      // As an integration saved before the rule holds it.
      const store = server.tidings.store;
      const saved = (await store.getIntegration('default', 'legacy-mail'))!;
      await store.putIntegration(
        { ...saved, config: { ...saved.config, endpoint: 'https://api.sendgrid.test/v3\t' } },
        Date.now(),
      );
      const shown = (await server.call('GET', '/v1/integrations/legacy-mail')).body;
      expect(shown.config.endpoint).toBe('https://api.sendgrid.test/v3\t');
      // What GET showed, sent back with another priority.
      const copied = await put('legacy-mail', {
        channel: 'email',
        provider: 'sendgrid',
        priority: 2,
        config: shown.config,
      });
      expect(copied.status).toBe(200);
      const moved = await put('legacy-mail', {
        ...body,
        config: { ...body.config, endpoint: 'https://api.sendgrid.test/v3\n' },
      });
      expect(refusal(moved)).toEqual({ status: 422, code: 'unprocessable', paths: ['config.endpoint'] });
      expect(moved.body.error.details[0].message).toBe(
        'must be a URL without whitespace or control characters',
      );
    });
  });

  describe('Twilio through the pipeline', () => {
    beforeAll(async () => {
      expect(
        (
          await put('sms-main', {
            channel: 'sms',
            provider: 'twilio',
            config: { from: '+15550001111', endpoint: twilio.url },
            credentials: twilioCredentials,
          })
        ).status,
      ).toBe(200);
      await server.call('PUT', '/v1/workflows/mfa', {
        channels: [{ channel: 'sms', template: { body: 'Code {{ data.code }}' } }],
      });
    });

    const trigger = async (subscriberId: string) => {
      const event = await server.call('POST', '/v1/events', {
        workflow: 'mfa',
        to: [{ subscriberId, phone: '+15555550123' }],
        data: { code: '424242' },
      });
      expect(event.status).toBe(202);
      const [message] = await settledMessages(server, [event.body.eventId], 1);
      return message;
    };

    it('sends with the status callback of this integration and records the sid', async () => {
      const message = await trigger('ada');
      expect(message.status).toBe('sent');
      expect(message.timeline.at(-1).detail).toMatch(
        /^sms-main accepted as SM[0-9a-f]{32}: HTTP 201 Created$/,
      );
      const form = new URLSearchParams(twilio.requests.at(-1)!.body);
      expect(form.get('To')).toBe('+15555550123');
      expect(form.get('Body')).toBe('Code 424242');
      expect(form.get('StatusCallback')).toBe('https://notify.example.test/v1/providers/sms-main/webhook');
    });

    it('turns a 21610 (the number texted STOP) into an SMS opt-out: suppressed now, never sent again', async () => {
      twilio.answerNext(TWILIO_ERRORS.unsubscribed());
      const refused = await trigger('bob');
      expect(refused.status).toBe('suppressed');
      expect(refused.reason).toBe('opted_out');
      expect(refused.timeline.at(-1).detail).toContain('Twilio 21610');
      const preferences = await server.call('GET', '/v1/subscribers/bob/preferences');
      expect(preferences.body.channels).toMatchObject({ sms: false });

      const before = twilio.requests.length;
      const next = await trigger('bob');
      expect(next.status).toBe('suppressed');
      expect(next.reason).toBe('opted_out');
      expect(twilio.requests.length).toBe(before);
    });
  });

  describe('phone numbers are E.164 wherever a subscriber is written (400 naming phone)', () => {
    it.each(['5555550100', '+0123456789', '+1 555 555 0100', '+1555', `+${'1'.repeat(16)}`])(
      'refuses %j',
      async (phone) => {
        const put = await server.call('PUT', '/v1/subscribers/eve', { phone });
        expect(refusal(put)).toMatchObject({ status: 400, code: 'validation_failed', paths: ['phone'] });

        const inline = await server.call('POST', '/v1/events', {
          workflow: 'mfa',
          to: [{ subscriberId: 'eve', phone }],
          data: { code: '1' },
        });
        expect(refusal(inline)).toMatchObject({
          status: 400,
          code: 'validation_failed',
          paths: ['to[0].phone'],
        });

        const bulk = await server.call('POST', '/v1/events/bulk', {
          events: [
            { workflow: 'mfa', to: ['eve'], data: { code: '1' } },
            { workflow: 'mfa', to: [{ subscriberId: 'eve', phone }], data: { code: '2' } },
          ],
        });
        expect(bulk.status).toBe(202);
        expect(bulk.body.results[0]).toMatchObject({ status: 'accepted' });
        expect(bulk.body.results[1].error.code).toBe('validation_failed');
        expect(refusal({ status: 400, body: bulk.body.results[1] }).paths).toEqual(['events[1].to[0].phone']);
        expect((await server.call('GET', '/v1/subscribers/eve')).body.phone ?? null).toBeNull();
      },
    );

    it('accepts an E.164 number', async () => {
      const response = await server.call('PUT', '/v1/subscribers/eve', { phone: '+447700900123' });
      expect(response.status).toBe(200);
      expect(response.body.phone).toBe('+447700900123');
    });
  });
});
