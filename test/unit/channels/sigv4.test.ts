import { describe, expect, it } from 'vitest';
import { signV4 } from '../../../src/channels/email/sigv4.ts';

// AWS's published SigV4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html):
// its example credentials, region, service and time.
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const SCOPE = { region: 'us-east-1', service: 'service', now: new Date('2015-08-30T12:36:00Z') };
const authorization = (signedHeaders: string, signature: string) =>
  `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${signedHeaders}, Signature=${signature}`;

describe('SigV4 against the AWS test suite', () => {
  it.each([
    [
      'get-vanilla',
      'GET',
      'https://example.amazonaws.com/',
      {},
      '',
      authorization('host;x-amz-date', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'),
    ],
    [
      'post-vanilla',
      'POST',
      'https://example.amazonaws.com/',
      {},
      '',
      authorization('host;x-amz-date', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'),
    ],
    [
      'get-vanilla-query-order-key-case (sorted after encoding)',
      'GET',
      'https://example.amazonaws.com/?Param2=value2&Param1=value1',
      {},
      '',
      authorization('host;x-amz-date', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'),
    ],
    [
      'post-x-www-form-urlencoded (a body and a signed content-type)',
      'POST',
      'https://example.amazonaws.com/',
      { 'Content-Type': 'application/x-www-form-urlencoded' },
      'Param1=value1',
      authorization(
        'content-type;host;x-amz-date',
        'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
      ),
    ],
  ])('%s', (_name, method, url, headers, body, expected) => {
    const signed = signV4({ method, url: new URL(url), headers, body }, CREDENTIALS, SCOPE);
    expect(signed.authorization).toBe(expected);
    expect(signed['x-amz-date']).toBe('20150830T123600Z');
  });

  it('signs a session token when the credentials are temporary', () => {
    const signed = signV4(
      { method: 'POST', url: new URL('https://example.amazonaws.com/'), headers: {}, body: '' },
      { ...CREDENTIALS, sessionToken: 'AQoDYXdzEPT//////////wEXAMPLE' },
      SCOPE,
    );
    expect(signed['x-amz-security-token']).toBe('AQoDYXdzEPT//////////wEXAMPLE');
    expect(signed.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token,');
  });

  it('changes the signature when the body changes (the payload hash is signed)', () => {
    const sign = (body: string) =>
      signV4(
        { method: 'POST', url: new URL('https://example.amazonaws.com/'), headers: {}, body },
        CREDENTIALS,
        SCOPE,
      ).authorization;
    expect(sign('{"a":1}')).not.toBe(sign('{"a":2}'));
  });
});
