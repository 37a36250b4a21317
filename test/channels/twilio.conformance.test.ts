import { afterAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { statusCallbackUrl, TWILIO_API } from '../../src/channels/sms/twilio.ts';
import { PROVIDERS } from '../../src/providers/catalog.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import {
  startTwilioFake,
  TWILIO_ERRORS,
  TWILIO_TEST_SID,
  TWILIO_TEST_TOKEN,
  type TwilioFake,
} from '../fakes/twilio.ts';
import { describeConformance } from './conformance.ts';

const context = {
  ...loopbackContext(),
  integrationId: 'sms-main',
  publicUrl: 'https://notify.example.test/base',
};
afterAll(() => context.outbound.close());

const credentials = { accountSid: TWILIO_TEST_SID, authToken: TWILIO_TEST_TOKEN };
const build = (fake: TwilioFake, config: Record<string, unknown> = { from: '+15550001111' }, ctx = context) =>
  PROVIDERS.twilio!.create({ ...config, endpoint: fake.url }, credentials, ctx);

function sms(body = 'Your code is 123456', phone: string | null = '+15555550100'): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01SMS',
    eventId: 'evt_01SMS',
    workflow: 'mfa-code',
    channel: 'sms',
    subscriber: { id: 'sub_1', email: null, phone, locale: null, timezone: null },
    content: { body },
    data: {},
  };
}

describeConformance<TwilioFake>({
  provider: 'twilio',
  startFake: () => startTwilioFake(),
  build: (fake) => build(fake),
  message: () => sms(),
  checkAccepted(request, outcome) {
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/2010-04-01/Accounts/${TWILIO_TEST_SID}/Messages.json`);
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const auth = Buffer.from(`${TWILIO_TEST_SID}:${TWILIO_TEST_TOKEN}`).toString('base64');
    expect(request.headers.authorization).toBe(`Basic ${auth}`);
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      To: '+15555550100',
      From: '+15550001111',
      Body: 'Your code is 123456',
      StatusCallback: 'https://notify.example.test/base/v1/providers/sms-main/webhook',
    });
    expect(outcome).toMatchObject({
      kind: 'accepted',
      providerMessageId: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      meta: { segments: 1, encoding: 'GSM-7' },
    });
  },
  errors: [
    {
      name: '21211 invalid To',
      arrange: (f) => f.answerNext(TWILIO_ERRORS.invalidTo('+15555550100')),
      expect: { kind: 'bad_address' },
    },
    {
      name: '21610 unsubscribed recipient (STOP)',
      arrange: (f) => f.answerNext(TWILIO_ERRORS.unsubscribed()),
      expect: { kind: 'opted_out' },
    },
    {
      name: '20429 too many requests with Retry-After',
      arrange: (f) => f.answerNext(TWILIO_ERRORS.tooManyRequests('3')),
      expect: { kind: 'retryable', retryAfterMs: 3000 },
    },
    {
      name: '500 internal error',
      arrange: (f) => f.answerNext(TWILIO_ERRORS.internal()),
      expect: { kind: 'retryable' },
    },
    {
      name: '20003 authenticate',
      arrange: (f) => f.answerNext(TWILIO_ERRORS.authenticate()),
      expect: { kind: 'retryable', integrationFailed: true },
    },
  ],
});

describe('twilio adapter details', () => {
  let fake: TwilioFake;
  afterAll(() => fake?.close());

  it('reports segments and encoding of what it sent: an emoji makes it UCS-2', async () => {
    fake = await startTwilioFake();
    const outcome = await build(fake).send(sms(`${'a'.repeat(198)}🎉`));
    expect(outcome).toMatchObject({ kind: 'accepted', meta: { segments: 3, encoding: 'UCS-2' } });
  });

  it('sends MessagingServiceSid instead of From when the integration names a service', async () => {
    const sid = `MG${'a'.repeat(32)}`;
    await build(fake, { messagingServiceSid: sid }).send(sms());
    const form = new URLSearchParams(fake.requests.at(-1)!.body);
    expect(form.get('MessagingServiceSid')).toBe(sid);
    expect(form.has('From')).toBe(false);
  });

  it('asks a local server (config.endpoint) for the StatusCallback at a loopback public URL too', async () => {
    await build(fake, { from: '+15550001111' }, { ...context, publicUrl: 'http://127.0.0.1:8787' }).send(
      sms(),
    );
    expect(new URLSearchParams(fake.requests.at(-1)!.body).get('StatusCallback')).toBe(
      'http://127.0.0.1:8787/v1/providers/sms-main/webhook',
    );
  });

  it('asks Twilio itself for no StatusCallback at a loopback public URL (Twilio could not call it)', () => {
    const at = (publicUrl: string, base: string) =>
      statusCallbackUrl({ publicUrl, integrationId: 'sms-main' }, new URL(base));
    expect(at('http://127.0.0.1:8787', TWILIO_API)).toBeNull();
    expect(at('http://localhost:8787', 'https://api.dublin.ie1.twilio.com')).toBeNull();
    expect(at('https://notify.example.test', TWILIO_API)).toBe(
      'https://notify.example.test/v1/providers/sms-main/webhook',
    );
  });

  it('keeps the phone number Twilio quotes out of the reason', async () => {
    fake.answerNext({ ...TWILIO_ERRORS.invalidTo('+15555550100') });
    const outcome = await build(fake).send(sms());
    expect(outcome).toEqual({
      kind: 'bad_address',
      reason: 'HTTP 400 Bad Request, Twilio 21211: invalid To number',
    });
    fake.answerNext({
      ...TWILIO_ERRORS.invalidTo('+15555550100'),
      body: JSON.stringify({ code: 21999, message: "The 'To' number +15555550100 is odd", status: 400 }),
      status: 400,
    });
    const unknown = await build(fake).send(sms());
    expect(unknown).toEqual({
      kind: 'permanent',
      reason: "HTTP 400 Bad Request, Twilio 21999: The 'To' number … is odd",
    });
  });

  it('refuses locally what Twilio would refuse: no phone, a phone not in E.164, an empty body', async () => {
    const before = fake.requests.length;
    const provider = build(fake);
    expect((await provider.send(sms('hi', null))).kind).toBe('bad_address');
    expect((await provider.send(sms('hi', '555-0100'))).kind).toBe('bad_address');
    expect((await provider.send(sms('  '))).kind).toBe('permanent');
    expect(fake.requests.length).toBe(before);
  });
});
