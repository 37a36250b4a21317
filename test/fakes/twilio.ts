import { randomBytes } from 'node:crypto';
import { type FakeAnswer, type HttpProviderFake, json, startHttpProviderFake } from './http-provider.ts';

/**
 * A local Twilio Programmable Messaging API: `POST /2010-04-01/Accounts/{sid}/Messages.json`,
 * form-encoded, basic auth. It checks the credentials as Twilio does (401, error 20003) and
 * answers 201 with a message resource; errors use Twilio's documented body
 * `{code, message, more_info, status}`.
 */
export interface TwilioFake extends HttpProviderFake {
  readonly accountSid: string;
  readonly authToken: string;
}

export const TWILIO_TEST_SID = `AC${'0123456789abcdef'.repeat(2)}`;
export const TWILIO_TEST_TOKEN = 'twilio-test-auth-token';

/** Twilio's error body, as its REST API sends it. */
export function twilioError(status: number, code: number, message: string): FakeAnswer {
  return json(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

export const TWILIO_ERRORS = {
  invalidTo: (to: string) => twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`),
  unsubscribed: () => twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'),
  tooManyRequests: (retryAfter?: string) => ({
    ...twilioError(429, 20429, 'Too Many Requests'),
    headers: { 'content-type': 'application/json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) },
  }),
  authenticate: () => twilioError(401, 20003, 'Authenticate'),
  internal: () => twilioError(500, 20500, 'An internal server error has occurred'),
};

export async function startTwilioFake(
  accountSid = TWILIO_TEST_SID,
  authToken = TWILIO_TEST_TOKEN,
): Promise<TwilioFake> {
  const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  const fake = await startHttpProviderFake((request) => {
    if (request.headers.authorization !== expected) return TWILIO_ERRORS.authenticate();
    if (request.method !== 'POST' || request.path !== `/2010-04-01/Accounts/${accountSid}/Messages.json`) {
      return twilioError(404, 20404, 'The requested resource was not found');
    }
    const form = new URLSearchParams(request.body);
    const to = form.get('To') ?? '';
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return TWILIO_ERRORS.invalidTo(to);
    return json(201, {
      sid: `SM${randomBytes(16).toString('hex')}`,
      account_sid: accountSid,
      to,
      from: form.get('From'),
      messaging_service_sid: form.get('MessagingServiceSid'),
      body: form.get('Body'),
      status: 'queued',
      num_segments: '1',
      direction: 'outbound-api',
      api_version: '2010-04-01',
    });
  });
  return Object.assign(fake, { accountSid, authToken });
}
