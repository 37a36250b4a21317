import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseSendGridKey,
  sendGridTimestampFresh,
  verifySendGridSignature,
} from '../../../src/feedback/sendgrid-signature.ts';
import { SnsClient, SnsFetchRefused } from '../../../src/feedback/sns-certificates.ts';
import { isSnsUrl, parseSnsMessage, verifySnsSignature } from '../../../src/feedback/sns-signature.ts';
import { twilioSignature, verifyTwilioSignature } from '../../../src/feedback/twilio-signature.ts';
import { createOutboundGuard } from '../../../src/security/outbound/index.ts';
import { selfSignedCertificate } from '../../fakes/certificates.ts';
import { LOOPBACK_TARGETS } from '../../fakes/outbound.ts';
import { type SnsFake, signSns, startSnsFake } from '../../fakes/sns.ts';

describe('Twilio X-Twilio-Signature', () => {
  // The worked example of Twilio's "Webhooks security" guide.
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params: [string, string][] = [
    ['To', '+18005551212'],
    ['CallSid', 'CA1234567890ABCDE'],
    ['Digits', '1234'],
    ['From', '+12349013030'],
    ['Caller', '+12349013030'],
  ];

  it("matches Twilio's published example (parameters sorted by name)", () => {
    expect(twilioSignature('12345', url, params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    expect(verifyTwilioSignature('12345', url, params, '0/KCTR6DLpKmkAf8muzZqo1nDgQ=')).toBe(true);
  });

  it('refuses another token, URL, parameter value, a missing parameter or no signature', () => {
    const good = '0/KCTR6DLpKmkAf8muzZqo1nDgQ=';
    expect(verifyTwilioSignature('54321', url, params, good)).toBe(false);
    expect(verifyTwilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=3', params, good)).toBe(
      false,
    );
    const tampered = params.map(([k, v]): [string, string] => [k, k === 'Digits' ? '9999' : v]);
    expect(verifyTwilioSignature('12345', url, tampered, good)).toBe(false);
    expect(verifyTwilioSignature('12345', url, params.slice(1), good)).toBe(false);
    expect(verifyTwilioSignature('12345', url, params, undefined)).toBe(false);
    expect(verifyTwilioSignature('12345', url, params, '')).toBe(false);
    expect(verifyTwilioSignature('12345', url, params, good.slice(0, -1))).toBe(false);
  });

  it('accepts the URL with or without the default port, as Twilio libraries do', () => {
    const signed = twilioSignature('t', 'https://example.com:443/hook', []);
    expect(verifyTwilioSignature('t', 'https://example.com/hook', [], signed)).toBe(true);
    const plain = twilioSignature('t', 'https://example.com/hook', []);
    expect(verifyTwilioSignature('t', 'https://example.com:443/hook', [], plain)).toBe(true);
    // Another port is another URL.
    expect(verifyTwilioSignature('t', 'https://example.com:8443/hook', [], plain)).toBe(false);
  });
});

describe('SendGrid signed event webhook', () => {
  // The example of SendGrid's own library (sendgrid-nodejs, packages/eventwebhook).
  const PUBLIC_KEY =
    'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==';
  const SIGNATURE =
    'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=';
  const TIMESTAMP = '1588788367';
  const PAYLOAD = Buffer.from(
    '{"category":"example_payload","event":"test_event","message_id":"message_id"}',
  );

  it("verifies SendGrid's published example", () => {
    expect(verifySendGridSignature(parseSendGridKey(PUBLIC_KEY), TIMESTAMP, PAYLOAD, SIGNATURE)).toBe(true);
  });

  it('refuses another key, body, timestamp or signature, and missing headers', () => {
    const key = parseSendGridKey(PUBLIC_KEY);
    const other = parseSendGridKey(
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==',
    );
    expect(verifySendGridSignature(other, TIMESTAMP, PAYLOAD, SIGNATURE)).toBe(false);
    expect(verifySendGridSignature(key, TIMESTAMP, Buffer.from('payload'), SIGNATURE)).toBe(false);
    expect(verifySendGridSignature(key, '1588788368', PAYLOAD, SIGNATURE)).toBe(false);
    expect(verifySendGridSignature(key, TIMESTAMP, PAYLOAD, `${SIGNATURE.slice(0, -6)}3j/0=`)).toBe(false);
    expect(verifySendGridSignature(key, undefined, PAYLOAD, SIGNATURE)).toBe(false);
    expect(verifySendGridSignature(key, TIMESTAMP, PAYLOAD, undefined)).toBe(false);
    expect(verifySendGridSignature(key, TIMESTAMP, PAYLOAD, 'not a signature')).toBe(false);
  });

  it('verifies a self-generated P-256 key in base64 or PEM, and refuses keys that are not P-256', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const body = Buffer.from('[{"event":"delivered"}]');
    const signature = sign('sha256', Buffer.concat([Buffer.from('1700000000'), body]), privateKey).toString(
      'base64',
    );
    const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifySendGridSignature(parseSendGridKey(der), '1700000000', body, signature)).toBe(true);
    expect(verifySendGridSignature(parseSendGridKey(pem), '1700000000', body, signature)).toBe(true);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(() => parseSendGridKey(rsa.export({ type: 'spki', format: 'pem' }).toString())).toThrow(/P-256/);
    expect(() => parseSendGridKey('not a key')).toThrow();
  });
});

describe('SNS message signatures', () => {
  const { key, cert } = selfSignedCertificate('rsa');
  const certificate = new X509Certificate(cert);
  const certUrl = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem';
  const notification = {
    Type: 'Notification' as const,
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: 'arn:aws:sns:us-east-1:123456789012:ses-feedback',
    Subject: 'Amazon SES Email Event Notification',
    Message: '{"notificationType":"Delivery","mail":{"messageId":"x"}}',
    Timestamp: '2024-01-01T00:00:00.000Z',
  };

  it('verifies SignatureVersion 1 (SHA-1) and 2 (SHA-256), with and without a Subject', () => {
    for (const version of ['1', '2'] as const) {
      expect(verifySnsSignature(signSns(notification, key, certUrl, version), certificate, Date.now())).toBe(
        true,
      );
      const { Subject: _, ...noSubject } = notification;
      expect(verifySnsSignature(signSns(noSubject, key, certUrl, version), certificate, Date.now())).toBe(
        true,
      );
    }
  });

  it('verifies subscription confirmations over their own fields', () => {
    const confirmation = signSns(
      {
        Type: 'SubscriptionConfirmation',
        MessageId: 'm',
        TopicArn: notification.TopicArn,
        Message: 'You have chosen to subscribe',
        Timestamp: notification.Timestamp,
        Token: 'tok',
        SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok',
      },
      key,
      certUrl,
    );
    expect(verifySnsSignature(confirmation, certificate, Date.now())).toBe(true);
    expect(verifySnsSignature({ ...confirmation, Token: 'other' }, certificate, Date.now())).toBe(false);
  });

  it('refuses a changed field, another key, an unknown version, and an expired certificate', () => {
    const signed = signSns(notification, key, certUrl, '2');
    expect(verifySnsSignature({ ...signed, Message: '{}' }, certificate, Date.now())).toBe(false);
    expect(verifySnsSignature({ ...signed, Subject: 'other' }, certificate, Date.now())).toBe(false);
    expect(verifySnsSignature({ ...signed, SignatureVersion: '3' }, certificate, Date.now())).toBe(false);
    // Version 1 claimed over a SHA-256 signature.
    expect(verifySnsSignature({ ...signed, SignatureVersion: '1' }, certificate, Date.now())).toBe(false);
    const other = new X509Certificate(selfSignedCertificate('rsa').cert);
    expect(verifySnsSignature(signed, other, Date.now())).toBe(false);
    expect(verifySnsSignature(signed, certificate, Date.now() + 3 * 86_400_000)).toBe(false);
  });

  it('parses only complete SNS messages', () => {
    const signed = signSns(notification, key, certUrl);
    expect(parseSnsMessage(JSON.stringify(signed))).toEqual(signed);
    expect(parseSnsMessage('not json')).toBeNull();
    expect(parseSnsMessage('[]')).toBeNull();
    expect(parseSnsMessage(JSON.stringify({ ...signed, Type: 'Other' }))).toBeNull();
    expect(parseSnsMessage(JSON.stringify({ ...signed, Signature: 1 }))).toBeNull();
    const { Signature: _, ...unsigned } = signed;
    expect(parseSnsMessage(JSON.stringify(unsigned))).toBeNull();
    expect(parseSnsMessage(JSON.stringify({ ...signed, Type: 'SubscriptionConfirmation' }))).toBeNull();
  });

  it('accepts certificates and subscription links only over https on SNS hosts', () => {
    expect(isSnsUrl(certUrl, 'certificate')).toBe(true);
    expect(isSnsUrl('https://sns.cn-north-1.amazonaws.com.cn/x.pem', 'certificate')).toBe(true);
    for (const url of [
      'http://sns.us-east-1.amazonaws.com/x.pem',
      'https://sns.us-east-1.amazonaws.com.evil.example/x.pem',
      'https://evil.example/sns.us-east-1.amazonaws.com/x.pem',
      'https://sns.us-east-1.amazonaws.com:8443/x.pem',
      'https://user@sns.us-east-1.amazonaws.com/x.pem',
      'https://sns.us-east-1.amazonaws.com/x.txt',
      'https://s3.amazonaws.com/x.pem',
      'https://127.0.0.1:9000/x.pem',
      'not a url',
    ])
      expect(isSnsUrl(url, 'certificate'), url).toBe(false);
    expect(isSnsUrl('https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription', 'subscribe')).toBe(
      true,
    );
    expect(isSnsUrl('https://127.0.0.1:9000/x.pem', 'certificate', '127.0.0.1:9000')).toBe(true);
    expect(isSnsUrl('https://127.0.0.1:9001/x.pem', 'certificate', '127.0.0.1:9000')).toBe(false);
  });
});

describe('SNS certificate fetching', () => {
  let fake: SnsFake;
  beforeAll(async () => {
    fake = await startSnsFake();
  });
  afterAll(() => fake?.close());

  it('fetches a certificate once (cached), through the outbound guard, trusting only the test CA', async () => {
    const client = new SnsClient(createOutboundGuard(LOOPBACK_TARGETS).policy, {
      certHost: fake.host,
      caFile: fake.caFile,
    });
    try {
      const before = fake.certificateFetches();
      const [a, b] = await Promise.all([client.certificate(fake.certUrl), client.certificate(fake.certUrl)]);
      expect(a.fingerprint256).toBe(new X509Certificate(fake.certificatePem).fingerprint256);
      expect(b).toBe(a);
      await client.certificate(fake.certUrl);
      expect(fake.certificateFetches() - before).toBe(1);
      await client.confirm(fake.subscribeUrl('t1'));
      expect(fake.confirmations.at(-1)).toContain('Token=t1');
    } finally {
      await client.close();
    }
  });

  it('refuses a loopback host without the test setting, and a blocked address even with it', async () => {
    const strict = new SnsClient(createOutboundGuard(LOOPBACK_TARGETS).policy);
    await expect(strict.certificate(fake.certUrl)).rejects.toThrow(/not an SNS/);
    await expect(strict.confirm(fake.subscribeUrl('t2'))).rejects.toThrow(/not an SNS/);
    await strict.close();
    // The test host is named, but the private-target rule still holds.
    const guarded = new SnsClient(createOutboundGuard(null).policy, {
      certHost: fake.host,
      caFile: fake.caFile,
    });
    await expect(guarded.certificate(fake.certUrl)).rejects.toThrow();
    await guarded.close();
  });

  it('bounds the fetches unsigned callbacks can cause; a flood of bad URLs evicts no loaded certificate', async () => {
    const client = new SnsClient(createOutboundGuard(LOOPBACK_TARGETS).policy, {
      certHost: fake.host,
      caFile: fake.caFile,
    });
    try {
      const now = Date.now();
      const good = await client.certificate(fake.certUrl, now);
      const before = fake.requests();
      // Each names a certificate that does not exist: 100 different SigningCertURLs.
      const bogus = Array.from(
        { length: 100 },
        (_, i) => `https://${fake.host}/SimpleNotificationService-${i}.pem`,
      );
      // From as many addresses: only the limit for everyone holds them.
      const results = await Promise.allSettled(
        bogus.map((url, i) => client.certificate(url, now, `192.0.2.${i}`)),
      );
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      // One was already spent on the good certificate: 29 more reached the host, the rest were refused.
      expect(fake.requests() - before).toBe(29);
      expect(
        results.filter((r) => r.status === 'rejected' && r.reason instanceof SnsFetchRefused),
      ).toHaveLength(71);
      const fetchesBefore = fake.certificateFetches();
      expect(await client.certificate(fake.certUrl, now)).toBe(good);
      expect(fake.certificateFetches()).toBe(fetchesBefore);
      // A minute later, fetching works again.
      await expect(client.certificate(bogus[0]!, now + 61_000)).rejects.toThrow(/HTTP 404/);
    } finally {
      await client.close();
    }
  });

  it('lets one address cause at most 3 new fetches a minute, whatever others do', async () => {
    const client = new SnsClient(createOutboundGuard(LOOPBACK_TARGETS).policy, {
      certHost: fake.host,
      caFile: fake.caFile,
    });
    try {
      const now = Date.now();
      const before = fake.requests();
      const bogus = (i: number) => `https://${fake.host}/SimpleNotificationService-one-${i}.pem`;
      for (let i = 0; i < 3; i++)
        await expect(client.certificate(bogus(i), now, '198.51.100.7')).rejects.toThrow(/HTTP 404/);
      const refused = client.certificate(bogus(3), now, '198.51.100.7');
      await expect(refused).rejects.toBeInstanceOf(SnsFetchRefused);
      await expect(refused).rejects.toMatchObject({ by: 'requester' });
      expect(fake.requests() - before).toBe(3);
      // Another address still may; this one again a minute later.
      await expect(client.certificate(bogus(4), now, '198.51.100.8')).rejects.toThrow(/HTTP 404/);
      await expect(client.certificate(bogus(5), now + 61_000, '198.51.100.7')).rejects.toThrow(/HTTP 404/);
    } finally {
      await client.close();
    }
  });

  it('does not trust the fake without its CA', async () => {
    const client = new SnsClient(createOutboundGuard(LOOPBACK_TARGETS).policy, {
      certHost: fake.host,
      caFile: null,
    });
    await expect(client.certificate(fake.certUrl)).rejects.toThrow();
    await client.close();
  });
});

describe("SendGrid's signed timestamp", () => {
  const now = 1_800_000_000_000;
  const seconds = (ms: number) => String(Math.floor(ms / 1000));

  it('is taken up to 24 hours old and 5 minutes ahead', () => {
    expect(sendGridTimestampFresh(seconds(now), now)).toBe(true);
    expect(sendGridTimestampFresh(seconds(now - 24 * 3_600_000), now)).toBe(true);
    expect(sendGridTimestampFresh(seconds(now + 5 * 60_000), now)).toBe(true);
  });

  it('is refused older, further ahead, or not whole seconds', () => {
    expect(sendGridTimestampFresh(seconds(now - 24 * 3_600_000 - 1000), now)).toBe(false);
    expect(sendGridTimestampFresh(seconds(now + 5 * 60_000 + 1000), now)).toBe(false);
    for (const bad of [undefined, '', '1.8e9', ' 1800000000', '1800000000.5', '-1', String(now)])
      expect(sendGridTimestampFresh(bad, now), String(bad)).toBe(false);
  });
});
