import { randomBytes } from 'node:crypto';
import { type FakeAnswer, type HttpProviderFake, json, startHttpProviderFake } from './http-provider.ts';

/**
 * A local SendGrid v3 Mail Send: `POST /v3/mail/send`, bearer API key, JSON. Accepted mail is
 * `202` with an empty body and an `X-Message-Id` header; errors are `{"errors": [{message,
 * field, help}]}` as SendGrid documents them.
 */
export const SENDGRID_TEST_KEY = 'SG.test-key.0123456789abcdefghijklmnopqrstuvwxyz';

export function sendgridError(status: number, message: string, field: string | null = null): FakeAnswer {
  return json(status, { errors: [{ message, field, help: null }] });
}

export const SENDGRID_ERRORS = {
  badRequest: () => sendgridError(400, 'Does not contain a valid address.', 'personalizations.0.to.0.email'),
  /** SendGrid refuses a from address no Sender Identity covers with 403, not 400. */
  unverifiedSender: () =>
    sendgridError(
      403,
      'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements',
      'from',
    ),
  unauthorized: () => sendgridError(401, 'The provided authorization grant is invalid, expired, or revoked'),
  forbidden: () => sendgridError(403, 'access forbidden'),
  tooLarge: () => sendgridError(413, 'The JSON payload you have included in your request is too large.'),
  tooManyRequests: (retryAfter: string) => ({
    ...sendgridError(429, 'too many requests'),
    headers: { 'content-type': 'application/json', 'retry-after': retryAfter },
  }),
  serverError: () => sendgridError(500, 'internal server error'),
};

export function startSendGridFake(apiKey = SENDGRID_TEST_KEY): Promise<HttpProviderFake> {
  return startHttpProviderFake((request) => {
    if (request.headers.authorization !== `Bearer ${apiKey}`) return SENDGRID_ERRORS.unauthorized();
    if (request.method !== 'POST' || request.path !== '/v3/mail/send') return sendgridError(404, 'not found');
    let mail: { personalizations?: unknown; from?: { email?: unknown } };
    try {
      mail = JSON.parse(request.body);
    } catch {
      return sendgridError(400, 'Bad Request', null);
    }
    if (!Array.isArray(mail.personalizations) || mail.personalizations.length === 0) {
      return sendgridError(
        400,
        'The personalizations field is required and must have at least one personalization.',
        'personalizations',
      );
    }
    if (typeof mail.from?.email !== 'string')
      return sendgridError(400, 'The from email does not contain a valid address.', 'from.email');
    return { status: 202, headers: { 'x-message-id': randomBytes(11).toString('base64url') }, body: '' };
  });
}
