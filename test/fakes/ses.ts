import { randomBytes } from 'node:crypto';
import { type FakeAnswer, type HttpProviderFake, json, startHttpProviderFake } from './http-provider.ts';

/**
 * A local SES API v2 SendEmail: `POST /v2/email/outbound-emails`, SigV4-signed JSON. It checks
 * that a SigV4 Authorization header for the `ses` service is present (not the signature itself:
 * the signer is checked against AWS's published vectors in its unit test) and answers
 * `{"MessageId"}`. Errors are REST-JSON as SES sends them: the type in `x-amzn-ErrorType`
 * (`MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/`) and `{"message"}`.
 */
export const SES_TEST_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
export const SES_TEST_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

export function sesError(status: number, type: string, message: string): FakeAnswer {
  return json(
    status,
    { message },
    { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/` },
  );
}

export const SES_ERRORS = {
  messageRejected: () =>
    sesError(
      400,
      'MessageRejected',
      'Email address is not verified. The following identities failed the check in region US-EAST-1: ada@example.test',
    ),
  mailFromNotVerified: () =>
    sesError(400, 'MailFromDomainNotVerifiedException', 'The MAIL FROM domain is not verified.'),
  accountSuspended: () => sesError(400, 'AccountSuspendedException', 'Your account has been suspended.'),
  sendingPaused: () => sesError(400, 'SendingPausedException', 'Sending is paused for this account.'),
  badRequest: () => sesError(400, 'BadRequestException', "Missing final '@domain'"),
  tooManyRequests: () => sesError(429, 'TooManyRequestsException', 'Too many requests.'),
  limitExceeded: () => sesError(400, 'LimitExceededException', 'Maximum sending rate exceeded.'),
  /** The body-only form (`__type`), as some AWS front ends answer. */
  throttledInBody: () =>
    json(400, { __type: 'com.amazonaws.sesv2#TooManyRequestsException', message: 'Rate exceeded' }),
  serviceUnavailable: () => json(503, { message: 'Service Unavailable' }),
};

export function startSesFake(region = 'us-east-1'): Promise<HttpProviderFake> {
  const credential = new RegExp(
    `^AWS4-HMAC-SHA256 Credential=${SES_TEST_KEY_ID}/\\d{8}/${region}/ses/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`,
  );
  return startHttpProviderFake((request) => {
    if (!credential.test(request.headers.authorization ?? '') || !request.headers['x-amz-date']) {
      return sesError(
        403,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      );
    }
    if (request.method !== 'POST' || request.path !== '/v2/email/outbound-emails') {
      return sesError(404, 'NotFoundException', 'Not found');
    }
    return json(200, { MessageId: `0100018f${randomBytes(20).toString('hex')}-000000` });
  });
}
