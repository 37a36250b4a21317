import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { emailMessageId } from '../../src/channels/email/sender.ts';
import { createSmtpProvider } from '../../src/channels/email/smtp.ts';
import { NO_CONNECTION } from '../../src/channels/email/smtp-errors.ts';
import { type ChannelProvider, type OutboundMessage, ProviderConfigError } from '../../src/channels/port.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';

function emailMessage(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01TEST',
    eventId: 'evt_01TEST',
    workflow: 'welcome',
    channel: 'email',
    subscriber: { id: 'sub_1', email: 'ada@example.test', phone: null, locale: 'en', timezone: null },
    content: {
      subject: 'Welcome, Ada',
      html: '<h1>Hello Ada</h1><p>Your <a href="https://app.example.test/x">account</a> is ready.</p>',
    },
    data: {},
    ...overrides,
  };
}

/** A port nothing listens on: bind an ephemeral port, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return address.port;
}

describe('smtp provider against a real SMTP server', () => {
  let smtp: FakeSmtp;
  const providers: ChannelProvider[] = [];
  const context = loopbackContext();

  function provider(
    extra: Partial<Parameters<typeof createSmtpProvider>[0]> = {},
    credentials: Parameters<typeof createSmtpProvider>[1] = {},
  ): ChannelProvider {
    const p = createSmtpProvider(
      { host: smtp.host, port: smtp.port, from: 'Tidings <noreply@tidings.test>', ...extra },
      credentials,
      context,
    );
    providers.push(p);
    return p;
  }

  beforeAll(async () => {
    smtp = await startFakeSmtp({
      rejectRecipients: {
        'gone@example.test': { code: 550, message: '5.1.1 mailbox unavailable' },
        'busy@example.test': { code: 450, message: '4.2.1 try later' },
      },
    });
  });

  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close?.()));
    smtp.reset();
    smtp.rejectData(null);
  });

  afterAll(async () => {
    await smtp.close();
  });

  it('delivers a multipart message with stable Message-ID, headers, and a generated text part', async () => {
    const outcome = await provider().send(emailMessage());

    expect(outcome).toMatchObject({ kind: 'accepted', providerMessageId: '<msg_01TEST@tidings.test>' });
    expect(outcome.kind === 'accepted' && outcome.detail).toMatch(/^SMTP 250\b/);
    const [mail] = await smtp.waitFor(1);
    expect(mail?.envelope).toEqual({ from: 'noreply@tidings.test', to: ['ada@example.test'] });
    expect(mail?.header('message-id')).toBe('<msg_01TEST@tidings.test>');
    expect(mail?.header('x-tidings-message-id')).toBe('msg_01TEST');
    expect(mail?.header('from')).toBe('Tidings <noreply@tidings.test>');
    expect(mail?.header('to')).toBe('ada@example.test');
    expect(mail?.header('subject')).toBe('Welcome, Ada');
    expect(mail?.mime.contentType).toBe('multipart/alternative');
    expect(mail?.mime.parts.map((p) => p.contentType)).toEqual(['text/plain', 'text/html']);
    expect(mail?.html).toBe(emailMessage().content.html);
    expect(mail?.text).toContain('HELLO ADA');
    expect(mail?.text).toContain('account [https://app.example.test/x]');
    expect(mail?.text).not.toContain('<');
  });

  it('sets Reply-To from the step template field replyTo, and refuses one that is no mailbox', async () => {
    const p = provider();
    const outcome = await p.send(
      emailMessage({ content: { subject: 'S', text: 'hi', replyTo: 'Support Team <help@tidings.test>' } }),
    );
    expect(outcome.kind).toBe('accepted');
    const [mail] = await smtp.waitFor(1);
    expect(mail?.header('reply-to')).toBe('Support Team <help@tidings.test>');
    const refused = await p.send(
      emailMessage({ content: { subject: 'S', text: 'hi', replyTo: 'a\r\nBcc: x@y' } }),
    );
    expect(refused).toMatchObject({ kind: 'permanent', reason: expect.stringMatching(/replyTo/) });
  });

  it('refuses a replyTo longer than one header line (998 characters), and takes one of 998', async () => {
    const p = provider();
    const replyTo = (length: number) =>
      `${'N'.repeat(length - ' <help@tidings.test>'.length)} <help@tidings.test>`;
    const refused = await p.send(
      emailMessage({ content: { subject: 'S', text: 'hi', replyTo: replyTo(999) } }),
    );
    expect(refused).toMatchObject({ kind: 'permanent', reason: expect.stringMatching(/replyTo .*998/) });
    const huge = await p.send(
      emailMessage({ content: { subject: 'S', text: 'hi', replyTo: replyTo(400_000) } }),
    );
    expect(huge).toMatchObject({ kind: 'permanent', reason: expect.stringMatching(/replyTo .*998/) });
    const taken = await p.send(
      emailMessage({ content: { subject: 'S', text: 'hi', replyTo: replyTo(998) } }),
    );
    expect(taken.kind).toBe('accepted');
    const [mail] = await smtp.waitFor(1);
    expect(mail?.header('reply-to')).toContain('<help@tidings.test>');
  });

  it('uses the rendered text part when there is one, and keeps the Message-ID on a retry', async () => {
    const p = provider();
    const msg = emailMessage({ content: { subject: 'S', html: '<p>rich</p>', text: 'plain ünïcode' } });
    const first = await p.send(msg);
    await p.send(msg);

    expect(first).toMatchObject({ kind: 'accepted', meta: { messageIdHeader: '<msg_01TEST@tidings.test>' } });
    const mails = await smtp.waitFor(2);
    expect(mails.map((m) => m.header('message-id'))).toEqual([
      '<msg_01TEST@tidings.test>',
      '<msg_01TEST@tidings.test>',
    ]);
    expect(mails[0]?.text?.trim()).toBe('plain ünïcode');
    expect(mails[0]?.html?.trim()).toBe('<p>rich</p>');
  });

  it("puts the Message-ID on the sender's domain, never on one without a dot", () => {
    expect(emailMessageId('msg_1', 'Acme <alerts@Mail.Acme.COM>')).toBe('<msg_1@mail.acme.com>');
    expect(emailMessageId('msg_1', 'alerts@acme.io')).toBe('<msg_1@acme.io>');
    expect(emailMessageId('msg_1', 'root@localhost')).toBe('<msg_1@tidings.invalid>');
  });

  it('authenticates in plain text only when the integration says insecure', async () => {
    await provider({ insecure: true }, { user: 'mailer', pass: 's3cret' }).send(emailMessage());
    const [mail] = await smtp.waitFor(1);
    expect(mail?.user).toBe('mailer');
  });

  it('never sends AUTH to a server without STARTTLS: the integration is unusable, so the send fails over', async () => {
    const outcome = await provider({}, { user: 'mailer', pass: 's3cret' }).send(emailMessage());
    expect(outcome).toMatchObject({
      kind: 'retryable',
      integrationFailed: true,
      reason: expect.stringContaining('STARTTLS'),
    });
    expect(smtp.commands.some((line) => /^EHLO /i.test(line))).toBe(true);
    expect(smtp.commands.some((line) => /^AUTH\b/i.test(line))).toBe(false);
    expect(smtp.received).toHaveLength(0);
  });

  it('signs with DKIM when configured', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const dkimPrivateKey = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await provider({ dkim: { domainName: 'tidings.test', keySelector: 'mail' } }, { dkimPrivateKey }).send(
      emailMessage(),
    );
    const [mail] = await smtp.waitFor(1);
    expect(mail?.header('dkim-signature')).toMatch(/d=tidings\.test;.*s=mail;/);
  });

  it('refuses a DKIM config without a private key, or with one that is not a PEM private key', () => {
    const dkim = { domainName: 'tidings.test', keySelector: 'mail' };
    expect(() => provider({ dkim })).toThrow(ProviderConfigError);
    expect(() => provider({ dkim })).toThrow(/dkimPrivateKey|required/);
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    for (const dkimPrivateKey of [
      'not a key',
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ]) {
      try {
        provider({ dkim }, { dkimPrivateKey });
        expect.unreachable('a bad DKIM key was accepted');
      } catch (error) {
        expect(error).toBeInstanceOf(ProviderConfigError);
        expect((error as ProviderConfigError).path).toBe('credentials.dkimPrivateKey');
      }
    }
  });

  it('maps 550 at RCPT TO to bad_address', async () => {
    const outcome = await provider().send(
      emailMessage({ subscriber: { ...emailMessage().subscriber, email: 'gone@example.test' } }),
    );
    expect(outcome).toMatchObject({ kind: 'bad_address', reason: expect.stringContaining('550 5.1.1') });
    expect(smtp.received).toHaveLength(0);
  });

  it('maps 450 at RCPT TO to retryable', async () => {
    const outcome = await provider().send(
      emailMessage({ subscriber: { ...emailMessage().subscriber, email: 'busy@example.test' } }),
    );
    expect(outcome).toMatchObject({ kind: 'retryable', reason: expect.stringContaining('450 4.2.1') });
  });

  it('maps 552 at RCPT TO to retryable (RFC 5321 §4.5.3.1.10), a 552 after DATA to permanent', async () => {
    smtp.rejectRecipient('full@example.test', { code: 552, message: '5.2.2 mailbox full' });
    const full = emailMessage({ subscriber: { ...emailMessage().subscriber, email: 'full@example.test' } });
    expect(await provider().send(full)).toMatchObject({
      kind: 'retryable',
      reason: expect.stringContaining('552 5.2.2 on RCPT TO'),
    });
    smtp.rejectRecipient('full@example.test', null);
    smtp.rejectData({ code: 552, message: '5.3.4 message size exceeds fixed limit' });
    expect(await provider().send(full)).toMatchObject({
      kind: 'permanent',
      reason: expect.stringContaining('552'),
    });
  });

  it('maps a 554 after DATA to permanent', async () => {
    smtp.rejectData({ code: 554, message: '5.6.0 content rejected' });
    const outcome = await provider().send(emailMessage());
    expect(outcome).toMatchObject({ kind: 'permanent', reason: expect.stringContaining('554') });
  });

  it('maps a refused connection to a broken integration (retryable, failing over)', async () => {
    const p = createSmtpProvider(
      { host: '127.0.0.1', port: await closedPort(), from: 'a@b.test' },
      {},
      context,
    );
    providers.push(p);
    const outcome = await p.send(emailMessage());
    expect(outcome).toEqual({ kind: 'retryable', reason: NO_CONNECTION, integrationFailed: true });
  });

  it('reports a subscriber without email as bad_address without connecting', async () => {
    const outcome = await provider().send(
      emailMessage({ subscriber: { ...emailMessage().subscriber, email: null } }),
    );
    expect(outcome).toEqual({ kind: 'bad_address', reason: 'subscriber has no email address' });
  });

  it('refuses an address list instead of mailing every entry', async () => {
    const outcome = await provider().send(
      emailMessage({ subscriber: { ...emailMessage().subscriber, email: 'a@x.test, b@y.test' } }),
    );
    expect(outcome.kind).toBe('bad_address');
    expect(smtp.received).toHaveLength(0);
  });
});
