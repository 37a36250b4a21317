import { afterAll, describe, expect, it } from 'vitest';
import { sesMessageIdHeader } from '../../src/channels/email/ses.ts';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { PROVIDERS } from '../../src/providers/catalog.ts';
import type { HttpProviderFake } from '../fakes/http-provider.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { SES_ERRORS, SES_TEST_KEY_ID, SES_TEST_SECRET, startSesFake } from '../fakes/ses.ts';
import { describeConformance } from './conformance.ts';

const context = loopbackContext();
afterAll(() => context.outbound.close());

const build = (fake: HttpProviderFake) =>
  PROVIDERS.ses!.create(
    { region: 'us-east-1', from: 'Zoë Alerts <alerts@acme.test>', endpoint: fake.url },
    { accessKeyId: SES_TEST_KEY_ID, secretAccessKey: SES_TEST_SECRET },
    context,
  );

function email(content: Record<string, string>): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01SES',
    eventId: 'evt_01SES',
    workflow: 'receipt',
    channel: 'email',
    subscriber: { id: 'sub_1', email: 'ada@example.test', phone: null, locale: null, timezone: null },
    content,
    data: {},
  };
}

describeConformance<HttpProviderFake>({
  provider: 'ses',
  startFake: () => startSesFake('us-east-1'),
  build,
  message: () =>
    email({ subject: 'Your receipt', text: 'Paid $5', html: '<p>Paid $5</p>', replyTo: 'help@acme.test' }),
  checkAccepted(request, outcome) {
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v2/email/outbound-emails');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(request.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${SES_TEST_KEY_ID}/\\d{8}/us-east-1/ses/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$`,
      ),
    );
    expect(JSON.parse(request.body)).toEqual({
      // A non-ASCII display name is RFC 2047-encoded.
      FromEmailAddress: `=?UTF-8?B?${Buffer.from('Zoë Alerts').toString('base64')}?= <alerts@acme.test>`,
      Destination: { ToAddresses: ['ada@example.test'] },
      ReplyToAddresses: ['help@acme.test'],
      Content: {
        Simple: {
          Subject: { Data: 'Your receipt', Charset: 'UTF-8' },
          Body: {
            Text: { Data: 'Paid $5', Charset: 'UTF-8' },
            Html: { Data: '<p>Paid $5</p>', Charset: 'UTF-8' },
          },
          Headers: [{ Name: 'X-Tidings-Message-Id', Value: 'msg_01SES' }],
        },
      },
    });
    expect(outcome).toMatchObject({
      kind: 'accepted',
      providerMessageId: expect.stringMatching(/^0100018f/),
    });
    // SES puts its own Message-ID on the email, built from its MessageId.
    const { providerMessageId } = outcome as { providerMessageId: string };
    expect(outcome).toMatchObject({
      meta: { messageIdHeader: `<${providerMessageId}@email.amazonses.com>` },
    });
  },
  errors: [
    {
      name: 'MessageRejected',
      arrange: (f) => f.answerNext(SES_ERRORS.messageRejected()),
      expect: { kind: 'permanent' },
    },
    {
      name: 'MailFromDomainNotVerifiedException',
      arrange: (f) => f.answerNext(SES_ERRORS.mailFromNotVerified()),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: 'AccountSuspendedException',
      arrange: (f) => f.answerNext(SES_ERRORS.accountSuspended()),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: 'SendingPausedException',
      arrange: (f) => f.answerNext(SES_ERRORS.sendingPaused()),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: 'BadRequestException',
      arrange: (f) => f.answerNext(SES_ERRORS.badRequest()),
      expect: { kind: 'permanent' },
    },
    {
      name: 'TooManyRequestsException (429)',
      arrange: (f) => f.answerNext(SES_ERRORS.tooManyRequests()),
      expect: { kind: 'retryable' },
    },
    {
      name: 'LimitExceededException (400)',
      arrange: (f) => f.answerNext(SES_ERRORS.limitExceeded()),
      expect: { kind: 'retryable' },
    },
    {
      name: 'throttling named only in __type',
      arrange: (f) => f.answerNext(SES_ERRORS.throttledInBody()),
      expect: { kind: 'retryable' },
    },
    {
      name: '503',
      arrange: (f) => f.answerNext(SES_ERRORS.serviceUnavailable()),
      expect: { kind: 'retryable' },
    },
  ],
});

describe('ses adapter details', () => {
  it("names the Message-ID SES gives the email: email.amazonses.com in us-east-1, the region's host elsewhere", () => {
    expect(sesMessageIdHeader('0100018f-a', 'us-east-1')).toBe('<0100018f-a@email.amazonses.com>');
    expect(sesMessageIdHeader('0102018f-b', 'eu-west-1')).toBe('<0102018f-b@eu-west-1.amazonses.com>');
  });

  it('names the error type, masking the addresses SES quotes, and generates text from html', async () => {
    const fake = await startSesFake('us-east-1');
    try {
      fake.answerNext(SES_ERRORS.messageRejected());
      expect(
        await build(fake).send(
          email({ subject: 'x', html: '<p>Hello <a href="https://a.test">there</a></p>' }),
        ),
      ).toEqual({
        kind: 'permanent',
        reason:
          'HTTP 400 Bad Request, SES MessageRejected: Email address is not verified. The following identities failed the check in region US-EAST-1: …',
      });
      const sent = JSON.parse(fake.requests.at(-1)!.body);
      expect(sent.Content.Simple.Body.Text.Data).toBe('Hello there [https://a.test]');
    } finally {
      await fake.close();
    }
  });
});
