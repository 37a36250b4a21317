import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../../fakes/outbound.ts';
import { startTwilioFake, TWILIO_TEST_SID, TWILIO_TEST_TOKEN, type TwilioFake } from '../../fakes/twilio.ts';
import { settledMessages } from '../../helpers/messages.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

/**
 * API.md: "Twilio's StatusCallback is TIDINGS_PUBLIC_URL/v1/providers/{integrationId}/webhook". A
 * public URL on loopback (a development machine, a test run) is sent too when the messages go to a
 * server of the installation's own (`config.endpoint`), which can reach it; only Twilio itself is
 * spared a callback it could never call (test/channels/twilio.conformance.test.ts).
 */
describe('Twilio StatusCallback at a loopback public URL', () => {
  let server: TestServer;
  let twilio: TwilioFake;

  beforeAll(async () => {
    [server, twilio] = await Promise.all([
      startTestServer({
        TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
        TIDINGS_PUBLIC_URL: 'http://127.0.0.1:8787/tidings',
      }),
      startTwilioFake(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), twilio?.close()]);
  });

  it('is the public URL, path kept, then /v1/providers/{integrationId}/webhook', async () => {
    const integration = await server.call('PUT', '/v1/integrations/sms-local', {
      channel: 'sms',
      provider: 'twilio',
      config: { from: '+15550001111', endpoint: twilio.url },
      credentials: { accountSid: TWILIO_TEST_SID, authToken: TWILIO_TEST_TOKEN },
    });
    expect(integration.status).toBe(200);
    await server.call('PUT', '/v1/workflows/code', {
      channels: [{ channel: 'sms', template: { body: 'Code {{ data.code }}' } }],
    });
    const event = await server.call('POST', '/v1/events', {
      workflow: 'code',
      to: [{ subscriberId: 'ada', phone: '+15555550123' }],
      data: { code: '424242' },
    });
    expect(event.status).toBe(202);
    const [message] = await settledMessages(server, [event.body.eventId], 1);
    expect(message.status).toBe('sent');
    const form = new URLSearchParams(twilio.requests.at(-1)!.body);
    expect(form.get('StatusCallback')).toBe('http://127.0.0.1:8787/tidings/v1/providers/sms-local/webhook');
  });
});
