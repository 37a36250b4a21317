import { afterAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { PROVIDERS } from '../../src/providers/catalog.ts';
import type { HttpProviderFake } from '../fakes/http-provider.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { SENDGRID_ERRORS, SENDGRID_TEST_KEY, startSendGridFake } from '../fakes/sendgrid.ts';
import { describeConformance } from './conformance.ts';

const context = loopbackContext();
afterAll(() => context.outbound.close());

const build = (fake: HttpProviderFake) =>
  PROVIDERS.sendgrid!.create(
    { from: 'Acme Alerts <alerts@acme.test>', endpoint: fake.url },
    { apiKey: SENDGRID_TEST_KEY },
    context,
  );

function email(content: Record<string, string>, extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01MAIL',
    eventId: 'evt_01MAIL',
    workflow: 'receipt',
    channel: 'email',
    subscriber: { id: 'sub_1', email: 'ada@example.test', phone: null, locale: null, timezone: null },
    content,
    data: {},
    ...extra,
  };
}

describeConformance<HttpProviderFake>({
  provider: 'sendgrid',
  startFake: () => startSendGridFake(),
  build,
  message: () =>
    email(
      { subject: 'Your receipt', html: '<p>Paid <b>$5</b></p>', replyTo: 'Support <help@acme.test>' },
      { unsubscribeUrl: 'https://notify.example.test/v1/unsubscribe/tok' },
    ),
  checkAccepted(request, outcome) {
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v3/mail/send');
    expect(request.headers.authorization).toBe(`Bearer ${SENDGRID_TEST_KEY}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({
      personalizations: [{ to: [{ email: 'ada@example.test' }] }],
      from: { email: 'alerts@acme.test', name: 'Acme Alerts' },
      reply_to: { email: 'help@acme.test', name: 'Support' },
      subject: 'Your receipt',
      content: [
        { type: 'text/plain', value: 'Paid $5' },
        { type: 'text/html', value: '<p>Paid <b>$5</b></p>' },
      ],
      headers: {
        'X-Tidings-Message-Id': 'msg_01MAIL',
        'List-Unsubscribe': '<https://notify.example.test/v1/unsubscribe/tok>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'Message-ID': '<msg_01MAIL@acme.test>',
      },
      custom_args: { tidings_message_id: 'msg_01MAIL' },
    });
    expect(outcome).toMatchObject({
      kind: 'accepted',
      providerMessageId: expect.any(String),
      meta: { messageIdHeader: '<msg_01MAIL@acme.test>' },
    });
    expect((outcome as { providerMessageId: string }).providerMessageId.length).toBeGreaterThan(0);
  },
  errors: [
    {
      name: '400 validation',
      arrange: (f) => f.answerNext(SENDGRID_ERRORS.badRequest()),
      expect: { kind: 'permanent' },
    },
    {
      name: '401 bad key',
      arrange: (f) => f.answerNext(SENDGRID_ERRORS.unauthorized()),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      // The integration's from address, not this message: every send through it would be refused.
      name: '403 from address not a verified Sender Identity',
      arrange: (f) => f.answerNext(SENDGRID_ERRORS.unverifiedSender()),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: '403 forbidden',
      arrange: (f) => f.answerNext(SENDGRID_ERRORS.forbidden()),
      expect: { kind: 'retryable', integrationFailed: true },
    },
    {
      name: '413 too large',
      arrange: (f) => f.answerNext(SENDGRID_ERRORS.tooLarge()),
      expect: { kind: 'permanent' },
    },
    {
      name: '429 with Retry-After',
      arrange: (f) => f.answerNext(SENDGRID_ERRORS.tooManyRequests('12')),
      expect: { kind: 'retryable', retryAfterMs: 12_000 },
    },
    {
      name: '500',
      arrange: (f) => f.answerNext(SENDGRID_ERRORS.serverError()),
      expect: { kind: 'retryable' },
    },
  ],
});

describe('sendgrid adapter details', () => {
  it("names SendGrid's first error and its field in the reason", async () => {
    const fake = await startSendGridFake();
    try {
      fake.answerNext(SENDGRID_ERRORS.badRequest());
      const outcome = await build(fake).send(email({ subject: 'x', text: 'y' }));
      expect(outcome).toEqual({
        kind: 'permanent',
        reason: 'HTTP 400 Bad Request: Does not contain a valid address. (personalizations.0.to.0.email)',
      });
      // A text-only template sends only text/plain; a bad replyTo never leaves.
      expect(JSON.parse(fake.requests.at(-1)!.body).content).toEqual([{ type: 'text/plain', value: 'y' }]);
      const before = fake.requests.length;
      expect(await build(fake).send(email({ text: 'y', replyTo: 'not an address' }))).toMatchObject({
        kind: 'permanent',
      });
      expect(fake.requests.length).toBe(before);
    } finally {
      await fake.close();
    }
  });
});
