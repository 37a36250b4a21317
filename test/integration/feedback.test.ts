import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twilioSignature } from '../../src/feedback/twilio-signature.ts';
import type { HttpProviderFake } from '../fakes/http-provider.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { SENDGRID_TEST_KEY, startSendGridFake } from '../fakes/sendgrid.ts';
import { SES_TEST_KEY_ID, SES_TEST_SECRET, startSesFake } from '../fakes/ses.ts';
import { type SnsFake, startSnsFake, type UnsignedSnsMessage } from '../fakes/sns.ts';
import { startTwilioFake, type TwilioFake } from '../fakes/twilio.ts';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: message views are read field by field and checked by assertions
type Json = any;

const PUBLIC_URL = 'https://notify.example.test';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-feedback';

let server: TestServer;
let twilio: TwilioFake;
let ses: HttpProviderFake;
let sendgrid: HttpProviderFake;
let sns: SnsFake;
const sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

beforeAll(async () => {
  [twilio, ses, sendgrid, sns] = await Promise.all([
    startTwilioFake(),
    startSesFake(),
    startSendGridFake(),
    startSnsFake(),
  ]);
  server = await startTestServer({
    TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
    TIDINGS_PUBLIC_URL: PUBLIC_URL,
    TIDINGS_TEST_SNS_CERT_HOST: sns.host,
    TIDINGS_TEST_SNS_CA: sns.caFile,
  });
  const puts = await Promise.all([
    server.call('PUT', '/v1/integrations/texts', {
      channel: 'sms',
      provider: 'twilio',
      config: { from: '+15550001111', endpoint: twilio.url },
      credentials: { accountSid: twilio.accountSid, authToken: twilio.authToken },
    }),
    server.call('PUT', '/v1/integrations/mail-ses', {
      channel: 'email',
      provider: 'ses',
      priority: 1,
      config: { region: 'us-east-1', from: 'news@acme.example', endpoint: ses.url, topicArn: TOPIC },
      credentials: { accessKeyId: SES_TEST_KEY_ID, secretAccessKey: SES_TEST_SECRET },
    }),
    server.call('PUT', '/v1/workflows/alert', {
      channels: [{ channel: 'sms', template: { body: 'Alert {{ data.n }}' } }],
    }),
    server.call('PUT', '/v1/workflows/news', {
      category: 'marketing',
      channels: [{ channel: 'email', template: { subject: 'News', text: 'Issue {{ data.n }}' } }],
    }),
    server.call('PUT', '/v1/workflows/receipt', {
      category: 'transactional',
      channels: [{ channel: 'email', template: { subject: 'Receipt', text: 'Paid {{ data.n }}' } }],
    }),
  ]);
  for (const put of puts) expect(put.status, JSON.stringify(put.body)).toBe(200);
});

afterAll(async () => {
  await server?.close();
  await Promise.all([twilio?.close(), ses?.close(), sendgrid?.close(), sns?.close()]);
});

async function send(workflow: string, to: Record<string, string>, n = 1): Promise<Json> {
  const event = await server.call('POST', '/v1/events', { workflow, to: [to], data: { n } });
  expect(event.status).toBe(202);
  const [message] = await settledMessages(server, [event.body.eventId], 1);
  return message;
}

const message = async (id: string): Promise<Json> => (await server.call('GET', `/v1/messages/${id}`)).body;

/**
 * Posts a form to the Twilio webhook, signed with `token` over the public URL (or unsigned);
 * `signedAs`: the signature of another form (a captured one) is sent instead.
 */
async function twilioCallback(
  params: Record<string, string>,
  token: string | null = twilio.authToken,
  signedAs: Record<string, string> = params,
) {
  const path = '/v1/providers/texts/webhook';
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (token !== null)
    headers['x-twilio-signature'] = twilioSignature(token, `${PUBLIC_URL}${path}`, Object.entries(signedAs));
  return server.call('POST', path, new URLSearchParams(params).toString(), { auth: null, headers });
}

/** A message SID of Twilio's form (SM + 32 hex digits), distinct per `n`. */
const inboundSid = (n: number) => `SM${n.toString(16).padStart(32, '0')}`;

async function snsCallback(body: object, integration = 'mail-ses') {
  return server.call('POST', `/v1/providers/${integration}/webhook`, JSON.stringify(body), {
    auth: null,
    headers: {
      'content-type': 'text/plain; charset=UTF-8',
      'x-amz-sns-message-type': (body as { Type: string }).Type,
    },
  });
}

function sesNotification(notification: object): UnsignedSnsMessage {
  return {
    Type: 'Notification',
    MessageId: crypto.randomUUID(),
    TopicArn: TOPIC,
    Message: JSON.stringify(notification),
    Timestamp: new Date().toISOString(),
  };
}

describe('Twilio status callbacks and STOP', () => {
  it('a wrong or missing signature is refused (401) and changes nothing; a valid delivered delivers', async () => {
    const sent = await send('alert', { subscriberId: 'tw-1', phone: '+15557770001' });
    expect(sent.status).toBe('sent');
    expect(sent.providerMessageId).toMatch(/^SM/);
    const callback = {
      MessageSid: sent.providerMessageId,
      MessageStatus: 'delivered',
      AccountSid: twilio.accountSid,
    };

    const wrong = await twilioCallback(callback, 'not-the-auth-token');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
    const unsigned = await twilioCallback(callback, null);
    expect(unsigned.status).toBe(401);
    // Signed over other parameters than those posted.
    const swapped = await server.call(
      'POST',
      '/v1/providers/texts/webhook',
      new URLSearchParams({ ...callback, MessageStatus: 'undelivered' }).toString(),
      {
        auth: null,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilioSignature(
            twilio.authToken,
            `${PUBLIC_URL}/v1/providers/texts/webhook`,
            Object.entries(callback),
          ),
        },
      },
    );
    expect(swapped.status).toBe(401);
    expect((await message(sent.messageId)).status).toBe('sent');

    const valid = await twilioCallback(callback);
    expect(valid.status).toBe(200);
    expect(valid.headers.get('content-type')).toContain('text/xml');
    const delivered = await message(sent.messageId);
    expect(delivered.status).toBe('delivered');
    expect(delivered.timeline.at(-1)).toMatchObject({ status: 'delivered', detail: 'Twilio: delivered' });
    // A late `undelivered` for a delivered message moves nothing back.
    await twilioCallback({ ...callback, MessageStatus: 'undelivered', ErrorCode: '30003' });
    expect((await message(sent.messageId)).status).toBe('delivered');
  });

  it('an undelivered text to a dead number bounces and suppresses the number', async () => {
    const sent = await send('alert', { subscriberId: 'tw-2', phone: '+15557770002' });
    const answer = await twilioCallback({
      MessageSid: sent.providerMessageId,
      MessageStatus: 'undelivered',
      ErrorCode: '30005',
      To: '+15557770002',
    });
    expect(answer.status).toBe(200);
    const bounced = await message(sent.messageId);
    expect(bounced).toMatchObject({ status: 'bounced', reason: 'bad_address' });
    expect(bounced.lastError).toContain('30005');
    const next = await send('alert', { subscriberId: 'tw-2' }, 2);
    expect(next).toMatchObject({ status: 'suppressed', reason: 'bad_address' });
  });

  it('a signed callback holding a NUL is a 400 naming the parameter, and changes nothing', async () => {
    const sent = await send('alert', { subscriberId: 'tw-nul', phone: '+15557770009' });
    for (const [name, form] of [
      ['MessageSid', { MessageSid: `${sent.providerMessageId}\u0000`, MessageStatus: 'delivered' }],
      ['ErrorCode', { MessageSid: sent.providerMessageId, MessageStatus: 'failed', ErrorCode: '\u0000' }],
    ] as const) {
      const answer = await twilioCallback(form);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error.details).toEqual([
        { path: name, message: 'must not contain NUL (\\u0000) characters' },
      ]);
    }
    expect((await message(sent.messageId)).status).toBe('sent');
  });

  it('an ErrorCode named like an Object.prototype member is an unknown code: no bounce of the number', async () => {
    const sent = await send('alert', { subscriberId: 'tw-proto', phone: '+15557770010' });
    const answer = await twilioCallback({
      MessageSid: sent.providerMessageId,
      MessageStatus: 'undelivered',
      ErrorCode: 'constructor',
      To: '+15557770010',
    });
    expect(answer.status).toBe(200);
    const bounced = await message(sent.messageId);
    expect(bounced).toMatchObject({
      status: 'bounced',
      reason: 'provider_rejected',
      lastError: 'Twilio constructor',
    });
    const next = await send('alert', { subscriberId: 'tw-proto' }, 2);
    expect(next.status).toBe('sent');
  });

  it('STOP opts the number out of SMS (next text suppressed), START opts it back in', async () => {
    const phone = '+15557770003';
    expect((await send('alert', { subscriberId: 'tw-3', phone })).status).toBe('sent');
    const texts = twilio.requests.length;

    const stop = await twilioCallback({
      From: phone,
      To: '+15550001111',
      Body: ' stop ',
      MessageSid: inboundSid(1),
    });
    expect(stop.status).toBe(200);
    const held = await send('alert', { subscriberId: 'tw-3' }, 2);
    expect(held).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    expect(twilio.requests.length).toBe(texts);
    const preferences = await server.call('GET', '/v1/subscribers/tw-3/preferences');
    expect(preferences.body.channels.sms).toBe(false);

    // An unsigned START changes nothing.
    expect((await twilioCallback({ From: phone, Body: 'START' }, null)).status).toBe(401);
    expect((await send('alert', { subscriberId: 'tw-3' }, 3)).status).toBe('suppressed');

    expect(
      (await twilioCallback({ From: phone, To: '+15550001111', Body: 'START', MessageSid: inboundSid(2) }))
        .status,
    ).toBe(200);
    expect((await send('alert', { subscriberId: 'tw-3' }, 4)).status).toBe('sent');
    expect(twilio.requests.length).toBe(texts + 1);

    // The consent log holds STOP and START (the suppression and the preference each), in order.
    const log = (await server.call('GET', '/v1/subscribers/tw-3/consent-log')).body.items;
    expect(log.map((e: { source: string }) => e.source)).toEqual([
      'sms_stop',
      'sms_stop',
      'sms_stop',
      'sms_stop',
    ]);
    expect(log.map((e: { change: unknown }) => e.change)).toEqual([
      { suppressed: { channel: 'sms', reason: 'sms_stop' } },
      { preferences: { channels: { sms: false } } },
      { unsuppressed: { channel: 'sms', reason: 'sms_stop' } },
      { preferences: { channels: { sms: true } } },
    ]);
  });

  it('a replayed START (same MessageSid) does not lift a STOP texted after it', async () => {
    const phone = '+15557770004';
    expect((await send('alert', { subscriberId: 'tw-4', phone })).status).toBe('sent');
    const start = {
      From: phone,
      To: '+15550001111',
      Body: 'START',
      MessageSid: inboundSid(3),
      NumMedia: '0',
    };
    expect((await twilioCallback(start)).status).toBe(200);
    const stop = { From: phone, To: '+15550001111', Body: 'STOP', MessageSid: inboundSid(4) };
    expect((await twilioCallback(stop)).status).toBe(200);
    expect((await send('alert', { subscriberId: 'tw-4' }, 2)).status).toBe('suppressed');

    // The captured, validly signed START posted again: answered like any callback, applied never.
    expect((await twilioCallback(start)).status).toBe(200);
    // The same bytes with the unsigned boundary moved: the SID swallows the next parameter's name
    // and value (still validly signed), or the SID is folded away. Neither is a new text.
    const { NumMedia: _, ...withoutMedia } = start;
    const moved = { ...withoutMedia, MessageSid: `${start.MessageSid}NumMedia0` };
    expect((await twilioCallback(moved, twilio.authToken, start)).status).toBe(200);
    expect((await send('alert', { subscriberId: 'tw-4' }, 3)).status).toBe('suppressed');
    expect((await server.call('GET', '/v1/subscribers/tw-4/preferences')).body.channels.sms).toBe(false);
    // A new START (another text) still opts back in.
    expect((await twilioCallback({ ...start, MessageSid: inboundSid(5) })).status).toBe(200);
    expect((await send('alert', { subscriberId: 'tw-4' }, 4)).status).toBe('sent');
  });
});

describe('callback limits and failed signatures', () => {
  const path = '/v1/providers/texts/webhook';
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const signed = (params: [string, string][], token = twilio.authToken) =>
    twilioSignature(token, `${PUBLIC_URL}${path}`, params);
  const post = (body: string, headers: Record<string, string>, on: TestServer = server) =>
    on.call('POST', path, body, { auth: null, headers });

  it('refuses bodies larger than providers send (413 naming the limit) and forms of over 256 parameters, before checking them', async () => {
    // The fuzz's form: 3.9 MB, 400,000 parameters, a bogus signature.
    const flood = Array.from({ length: 400_000 }, (_, i) => `k${i}=v`).join('&');
    const big = await post(flood, { ...form, 'x-twilio-signature': 'bogus' });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    expect(big.body.error.message).toContain('64 KB');

    // Small, but too many parameters: refused whole, never cut short — whatever its Content-Type says.
    const many = Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v'] as [string, string]);
    for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
      const answer = await post(new URLSearchParams(many).toString(), {
        'content-type': type,
        'x-twilio-signature': signed(many),
      });
      expect(answer.status, type).toBe(413);
      expect(answer.body.error.message).toContain('256 parameters');
    }

    // A JSON body past SendGrid's batches (768 KB) and SNS's messages (256 KB).
    const json = JSON.stringify([{ event: 'delivered', padding: 'x'.repeat(1_100_000) }]);
    const huge = await server.call('POST', '/v1/providers/mail-sg/webhook', json, {
      auth: null,
      headers: { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': 'bogus' },
    });
    expect(huge.status).toBe(413);
    expect(huge.body.error.message).toContain('1 MB');
    // A full SendGrid batch is read (and here refused for its signature, not its size).
    const batch = JSON.stringify([{ event: 'delivered', padding: 'x'.repeat(790_000) }]);
    const full = await server.call('POST', '/v1/providers/mail-ses/webhook', batch, {
      auth: null,
      headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
    });
    expect(full.status).toBe(401);

    // What Twilio sends fits with room to spare: a signed callback of 200 parameters around a
    // WhatsApp-long body (4,096 characters), all of it non-ASCII, is taken.
    const rich: [string, string][] = [
      ['MessageSid', inboundSid(90)],
      ['MessageStatus', 'delivered'],
      ['Body', 'é'.repeat(4096)],
      ...Array.from({ length: 197 }, (_, i) => [`Extra${i}`, 'é'.repeat(20)] as [string, string]),
    ];
    const taken = await post(new URLSearchParams(rich).toString(), {
      ...form,
      'x-twilio-signature': signed(rich),
    });
    expect(taken.status).toBe(200);
  });

  it('counts refused signatures toward the failed-authentication throttle (429 + Retry-After), never a valid one', async () => {
    const own = await startTestServer({
      TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
      TIDINGS_PUBLIC_URL: PUBLIC_URL,
    });
    try {
      const put = await own.call('PUT', '/v1/integrations/texts', {
        channel: 'sms',
        provider: 'twilio',
        config: { from: '+15550001111', endpoint: twilio.url },
        credentials: { accountSid: twilio.accountSid, authToken: twilio.authToken },
      });
      expect(put.status).toBe(200);
      const params: [string, string][] = [
        ['MessageSid', inboundSid(91)],
        ['MessageStatus', 'delivered'],
      ];
      const body = new URLSearchParams(params).toString();
      for (let i = 0; i < 100; i++) {
        const wrong = await post(body, { ...form, 'x-twilio-signature': signed(params, `wrong-${i}`) }, own);
        expect(wrong.status).toBe(401);
      }
      const throttled = await post(body, { ...form, 'x-twilio-signature': 'bogus' }, own);
      expect(throttled.status).toBe(429);
      expect(throttled.body.error.code).toBe('too_many_failed_attempts');
      const retryAfter = Number(throttled.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // The same allowance as API keys: a wrong key from this address is throttled now too.
      expect(
        (await own.call('GET', '/v1/workflows', undefined, { auth: 'tdk_wrong_0123456789abcdef' })).status,
      ).toBe(429);

      // A correctly signed callback, and a valid key, from the same address go through.
      const valid = await post(body, { ...form, 'x-twilio-signature': signed(params) }, own);
      expect(valid.status).toBe(200);
      expect((await own.call('GET', '/v1/workflows')).status).toBe(200);
      // One presenting no signature at all is a plain 401, as a request without a key is.
      expect((await post(body, form, own)).status).toBe(401);
    } finally {
      await own.close();
    }
  });
});

describe('SES via SNS', () => {
  it('confirms a subscription by fetching its SubscribeURL', async () => {
    const confirmation = sns.sign({
      Type: 'SubscriptionConfirmation',
      MessageId: crypto.randomUUID(),
      TopicArn: TOPIC,
      Message: 'You have chosen to subscribe to the topic',
      Timestamp: new Date().toISOString(),
      Token: 'confirm-token-1',
      SubscribeURL: sns.subscribeUrl('confirm-token-1'),
    });
    const answer = await snsCallback(confirmation);
    expect(answer.status).toBe(200);
    expect(sns.confirmations.some((url) => url.includes('confirm-token-1'))).toBe(true);
  });

  it("refuses what another AWS account's topic sends (401), however well signed: no confirmation, no bounce", async () => {
    const otherTopic = 'arn:aws:sns:us-east-1:999999999999:not-yours';
    const confirmation = sns.sign({
      Type: 'SubscriptionConfirmation',
      MessageId: crypto.randomUUID(),
      TopicArn: otherTopic,
      Message: 'You have chosen to subscribe to the topic',
      Timestamp: new Date().toISOString(),
      Token: 'confirm-token-other',
      SubscribeURL: sns.subscribeUrl('confirm-token-other'),
    });
    const refused = await snsCallback(confirmation);
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toContain('config.topicArn');
    expect(sns.confirmations.some((url) => url.includes('confirm-token-other'))).toBe(false);

    const sent = await send('receipt', { subscriberId: 'ses-x', email: 'kept@example.com' });
    const bounce = sns.sign({
      ...sesNotification({
        notificationType: 'Bounce',
        mail: { messageId: sent.providerMessageId },
        bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: 'kept@example.com' }] },
      }),
      TopicArn: otherTopic,
    });
    expect((await snsCallback(bounce)).status).toBe(401);
    expect((await server.call('GET', `/v1/messages/${sent.messageId}`)).body.status).toBe(sent.status);
  });

  it('checks config.topicArn at PUT: not an SNS topic ARN is refused naming it', async () => {
    const put = await server.call('PUT', '/v1/integrations/ses-arn', {
      channel: 'email',
      provider: 'ses',
      config: { region: 'us-east-1', from: 'news@acme.example', endpoint: ses.url, topicArn: 'my-topic' },
      credentials: { accessKeyId: SES_TEST_KEY_ID, secretAccessKey: SES_TEST_SECRET },
    });
    expect(put.status).toBeGreaterThanOrEqual(400);
    expect(put.status).toBeLessThan(500);
    expect(JSON.stringify(put.body.error.details)).toContain('topicArn');
  });

  it('a permanent bounce bounces the message and suppresses the address: the next email is suppressed', async () => {
    const sent = await send('receipt', { subscriberId: 'ses-1', email: 'Gone@Example.com' });
    expect(sent.status).toBe('sent');
    const bounce = sns.sign(
      sesNotification({
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bounceSubType: 'General',
          bouncedRecipients: [
            { emailAddress: 'gone@example.com', diagnosticCode: 'smtp; 550 5.1.1 user unknown' },
          ],
        },
        mail: { messageId: sent.providerMessageId, destination: ['gone@example.com'] },
      }),
      '2',
    );
    // Tampered after signing: refused, nothing changes.
    const tampered = await snsCallback({
      ...bounce,
      Message: bounce.Message.replace('Permanent', 'Transient'),
    });
    expect(tampered.status).toBe(401);
    expect((await message(sent.messageId)).status).toBe('sent');

    const answer = await snsCallback(bounce);
    expect(answer.status).toBe(200);
    expect(await message(sent.messageId)).toMatchObject({ status: 'bounced', reason: 'bad_address' });
    const requests = ses.requests.length;
    // Transactional too: a dead mailbox bounces a receipt as well.
    const next = await send('receipt', { subscriberId: 'ses-1' }, 2);
    expect(next).toMatchObject({ status: 'suppressed', reason: 'bad_address' });
    expect(ses.requests.length).toBe(requests);
    // Logged once in the consent log, though SNS may deliver the callback again.
    expect((await snsCallback(bounce)).status).toBe(200);
    const log = (await server.call('GET', '/v1/subscribers/ses-1/consent-log')).body.items;
    expect(log).toEqual([
      {
        at: expect.any(String),
        change: { suppressed: { channel: 'email', reason: 'hard_bounce' } },
        source: 'bounce',
        detail: expect.stringContaining(sent.messageId),
      },
    ]);
  });

  it("a report about one message suppresses only that message's recipient, however many addresses it names", async () => {
    // A recipient knows their own mail's SES id (its Message-ID header): a report naming it must
    // not reach the tenant's other addresses.
    const bystander = await send('receipt', {
      subscriberId: 'ses-bystander',
      email: 'bystander@example.com',
    });
    expect(bystander.status).toBe('sent');
    const sent = await send('receipt', { subscriberId: 'ses-6', email: 'reporter@example.com' });
    const bounce = sns.sign(
      sesNotification({
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bouncedRecipients: [
            { emailAddress: 'Bystander@example.com' },
            { emailAddress: 'reporter@example.com' },
          ],
        },
        mail: { messageId: sent.providerMessageId },
      }),
    );
    const answer = await snsCallback(bounce);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ received: 1, messages: 1, addresses: 1, unmatched: 1 });
    expect(await send('receipt', { subscriberId: 'ses-6' }, 2)).toMatchObject({ status: 'suppressed' });
    expect(await send('receipt', { subscriberId: 'ses-bystander' }, 2)).toMatchObject({ status: 'sent' });
    const log = (await server.call('GET', '/v1/subscribers/ses-bystander/consent-log')).body.items;
    expect(log).toEqual([]);
  });

  it('a complaint about an address the subscriber has since changed still opts them out, and suppresses no address', async () => {
    const sent = await send('news', { subscriberId: 'ses-8', email: 'before@example.com' });
    expect((await server.call('PUT', '/v1/subscribers/ses-8', { email: 'after@example.com' })).status).toBe(
      200,
    );
    const complaint = sns.sign(
      sesNotification({
        notificationType: 'Complaint',
        complaint: { complainedRecipients: [{ emailAddress: 'before@example.com' }] },
        mail: { messageId: sent.providerMessageId },
      }),
    );
    const answer = await snsCallback(complaint);
    expect(answer.body).toMatchObject({ addresses: 0, unmatched: 1 });
    const preferences = await server.call('GET', '/v1/subscribers/ses-8/preferences');
    expect(preferences.body.categories.marketing.email).toBe(false);
    const log = (await server.call('GET', '/v1/subscribers/ses-8/consent-log')).body.items;
    expect(log.map((entry: { change: object }) => Object.keys(entry.change)[0])).toEqual(['preferences']);
  });

  it('three soft bounces within the window make the address suppressed', async () => {
    const to = { subscriberId: 'ses-2', email: 'full@example.com' };
    for (let n = 1; n <= 3; n++) {
      const sent = await send('news', to, n);
      expect(sent.status, `send ${n}`).toBe('sent');
      const bounce = sns.sign(
        sesNotification({
          notificationType: 'Bounce',
          bounce: {
            bounceType: 'Transient',
            bounceSubType: 'MailboxFull',
            bouncedRecipients: [{ emailAddress: to.email }],
          },
          mail: { messageId: sent.providerMessageId },
        }),
      );
      expect((await snsCallback(bounce)).status).toBe(200);
      // The same callback again (SNS retries) is one bounce, not two.
      expect((await snsCallback(bounce)).status).toBe(200);
      expect(await message(sent.messageId)).toMatchObject({ status: 'bounced', reason: 'provider_rejected' });
    }
    expect(await send('news', to, 4)).toMatchObject({ status: 'suppressed', reason: 'bad_address' });
  });

  it('a complaint suppresses the address and opts the subscriber out of marketing email', async () => {
    const sent = await send('news', { subscriberId: 'ses-3', email: 'angry@example.com' });
    const complaint = sns.sign(
      sesNotification({
        notificationType: 'Complaint',
        complaint: {
          complainedRecipients: [{ emailAddress: 'angry@example.com' }],
          complaintFeedbackType: 'abuse',
        },
        mail: { messageId: sent.providerMessageId },
      }),
    );
    expect((await snsCallback(complaint)).status).toBe(200);
    const after = await message(sent.messageId);
    expect(after.status).toBe('sent');
    expect(after.timeline.at(-1)).toMatchObject({ status: 'complaint' });
    const preferences = await server.call('GET', '/v1/subscribers/ses-3/preferences');
    expect(preferences.body.categories.marketing.email).toBe(false);
    expect(await send('news', { subscriberId: 'ses-3' }, 2)).toMatchObject({ status: 'suppressed' });
    const log = (await server.call('GET', '/v1/subscribers/ses-3/consent-log')).body.items;
    expect(log.map((e: { source: string }) => e.source)).toEqual(['complaint', 'complaint']);
    expect(log[0].change).toEqual({ suppressed: { channel: 'email', reason: 'complaint' } });
    expect(log[1].change.preferences.categories.marketing).toEqual({ email: false });
  });

  it('a complaint opts the subscriber out of a category named __proto__ like any other', async () => {
    const put = await server.call('PUT', '/v1/workflows/proto-news', {
      category: '__proto__',
      channels: [{ channel: 'email', template: { subject: 'News', text: 'Issue {{ data.n }}' } }],
    });
    expect(put.status).toBe(200);
    const sent = await send('proto-news', { subscriberId: 'ses-proto', email: 'proto@example.com' });
    const complaint = sns.sign(
      sesNotification({
        notificationType: 'Complaint',
        complaint: { complainedRecipients: [{ emailAddress: 'proto@example.com' }] },
        mail: { messageId: sent.providerMessageId },
      }),
    );
    expect((await snsCallback(complaint)).status).toBe(200);
    const { categories } = (await server.call('GET', '/v1/subscribers/ses-proto/preferences')).body;
    // Entries, not the object: `__proto__` read as a property is the prototype. Sorted: PostgreSQL
    // orders a jsonb object's keys its own way.
    expect(Object.entries(categories).sort(([a], [b]) => (a < b ? -1 : 1))).toEqual([
      ['__proto__', { email: false }],
      ['marketing', { email: false }],
    ]);
  });

  it('a complaint SNS delivers again (same MessageId) does not opt out a subscriber who opted back in; a new one does', async () => {
    const sent = await send('news', { subscriberId: 'ses-5', email: 'twice@example.com' });
    const complaint = (messageId: string) =>
      sns.sign({
        ...sesNotification({
          notificationType: 'Complaint',
          complaint: { complainedRecipients: [{ emailAddress: 'twice@example.com' }] },
          mail: { messageId: sent.providerMessageId },
        }),
        MessageId: messageId,
      });
    const marketingEmail = async () =>
      (await server.call('GET', '/v1/subscribers/ses-5/preferences')).body.categories.marketing?.email;
    const first = complaint(crypto.randomUUID());
    expect((await snsCallback(first)).status).toBe(200);
    expect(await marketingEmail()).toBe(false);
    const optIn = { categories: { marketing: { email: true } } };
    expect((await server.call('PATCH', '/v1/subscribers/ses-5/preferences', optIn)).status).toBe(200);
    expect((await snsCallback(first)).status).toBe(200);
    expect(await marketingEmail()).toBe(true);
    expect((await snsCallback(complaint(crypto.randomUUID()))).status).toBe(200);
    expect(await marketingEmail()).toBe(false);
  });

  it('a delivery notification delivers; certificates off SNS hosts and unknown integrations are refused', async () => {
    const sent = await send('news', { subscriberId: 'ses-4', email: 'fine@example.com' });
    const delivery = sesNotification({
      notificationType: 'Delivery',
      delivery: { recipients: ['fine@example.com'], smtpResponse: '250 2.0.0 OK' },
      mail: { messageId: sent.providerMessageId },
    });
    const elsewhere = sns.sign(delivery, '1', 'https://certs.evil.example/SimpleNotificationService-x.pem');
    expect((await snsCallback(elsewhere)).status).toBe(401);
    // An unknown id answers as a known one refusing the same callback does: the public route
    // tells no one which ids exist. An SNS message is checked as far (certificate, signature).
    const unknown = await snsCallback(sns.sign(delivery), 'no-such-integration');
    expect(unknown.status).toBe(401);
    const otherTopic = await snsCallback(
      sns.sign({ ...delivery, TopicArn: 'arn:aws:sns:us-east-1:999999999999:not-yours' }),
    );
    expect(otherTopic.status).toBe(401);
    expect(unknown.body.error.message.replace('no-such-integration', 'mail-ses')).toBe(
      otherTopic.body.error.message,
    );
    const plain = (integration: string) =>
      server.call('POST', `/v1/providers/${integration}/webhook`, '{}', {
        auth: null,
        headers: { 'content-type': 'text/plain; charset=UTF-8' },
      });
    const [known, nobody] = [await plain('mail-ses'), await plain('no-such-integration')];
    expect([known.status, nobody.status]).toEqual([401, 401]);
    expect(nobody.body.error.message.replace('no-such-integration', 'mail-ses')).toBe(
      known.body.error.message,
    );
    // Unsigned, with a certificate that cannot be fetched: the same 503 for any id.
    const unfetchable = (integration: string) =>
      snsCallback(
        sns.sign(delivery, '1', `https://${sns.host}/SimpleNotificationService-gone.pem`),
        integration,
      );
    const [sesAnswer, noneAnswer] = [await unfetchable('mail-ses'), await unfetchable('no-such-integration')];
    expect(sesAnswer.status).toBe(503);
    expect(noneAnswer.status).toBe(503);
    expect((await message(sent.messageId)).status).toBe('sent');
    expect((await snsCallback(sns.sign(delivery))).status).toBe(200);
    expect((await message(sent.messageId)).status).toBe('delivered');
  });
});

describe('SNS certificate fetches', () => {
  it('one address may make the server fetch at most 3 new certificates a minute (then 503, which SNS retries); known ones are still served', async () => {
    const sent = await send('news', { subscriberId: 'ses-7', email: 'many@example.com' });
    const delivery = (certUrl?: string) =>
      sns.sign(
        sesNotification({ notificationType: 'Delivery', mail: { messageId: sent.providerMessageId } }),
        '1',
        certUrl,
      );
    // The fake's own certificate, fetched (or already cached) first.
    expect((await snsCallback(delivery())).status).toBe(200);
    // Unknown certificates (the fake answers 404): each a fetch until this address has made 3 in
    // the minute, then refused unfetched.
    const fetchesBefore = sns.requests();
    const answers = [];
    for (let n = 1; n <= 4; n++)
      answers.push(
        await snsCallback(delivery(`https://${sns.host}/SimpleNotificationService-unknown-${n}.pem`)),
      );
    expect(answers.map((answer) => answer.status)).toEqual([503, 503, 503, 503]);
    // Earlier tests' fetches from this address in the same minute count too: at most 3 in all.
    const fetched = sns.requests() - fetchesBefore;
    expect(fetched).toBeLessThanOrEqual(3);
    const refused = answers.at(-1)!;
    expect(refused.body.error.message).toContain('from this address');
    expect(refused.headers.get('retry-after')).toBe('60');
    expect((await snsCallback(delivery())).status).toBe(200);
  });
});

describe('SendGrid event webhook', () => {
  it('verifies the ECDSA signature with webhookVerificationKey; delivered and open move the message forward', async () => {
    const bad = await server.call('PUT', '/v1/integrations/mail-sg', {
      channel: 'email',
      provider: 'sendgrid',
      priority: 0,
      config: { from: 'news@acme.example', endpoint: sendgrid.url },
      credentials: { apiKey: SENDGRID_TEST_KEY, webhookVerificationKey: 'not a key' },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].path).toBe('credentials.webhookVerificationKey');
    const put = await server.call('PUT', '/v1/integrations/mail-sg', {
      channel: 'email',
      provider: 'sendgrid',
      priority: 0,
      config: { from: 'news@acme.example', endpoint: sendgrid.url },
      credentials: {
        apiKey: SENDGRID_TEST_KEY,
        webhookVerificationKey: sendgridKeys.publicKey
          .export({ type: 'spki', format: 'der' })
          .toString('base64'),
      },
    });
    expect(put.status).toBe(200);
    try {
      const sent = await waitFor(async () => {
        const m = await send('news', { subscriberId: 'sg-1', email: 'reader@example.com' });
        return m.provider === 'mail-sg' ? m : null;
      }, 'a send through SendGrid');
      const post = (events: object[], key = sendgridKeys.privateKey, at = Date.now()) => {
        const body = JSON.stringify(events);
        const timestamp = String(Math.floor(at / 1000));
        const signature = sign('sha256', Buffer.from(timestamp + body), key).toString('base64');
        return server.call('POST', '/v1/providers/mail-sg/webhook', body, {
          auth: null,
          headers: {
            'content-type': 'application/json',
            'x-twilio-email-event-webhook-signature': signature,
            'x-twilio-email-event-webhook-timestamp': timestamp,
          },
        });
      };
      const delivered = {
        email: 'reader@example.com',
        event: 'delivered',
        sg_message_id: `${sent.providerMessageId}.filterdrecv-1.0`,
        timestamp: 1,
      };
      const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      expect((await post([delivered], stranger)).status).toBe(401);
      expect((await message(sent.messageId)).status).toBe('sent');
      // Signed, but at another time: a captured request posted again more than 24 hours later (or
      // one dated ahead) is refused as a bad signature is, and changes nothing.
      const hour = 3_600_000;
      for (const at of [Date.now() - 25 * hour, Date.now() + hour]) {
        const stale = await post([delivered], sendgridKeys.privateKey, at);
        expect(stale.status).toBe(401);
        expect(stale.body.error.message).toMatch(/X-Twilio-Email-Event-Webhook-Timestamp/);
      }
      expect((await message(sent.messageId)).status).toBe('sent');
      // Signed, but holding a value no store keeps (a NUL: a 500 on PostgreSQL before): a 400 naming it.
      const nul = await post([{ ...delivered, tidings_message_id: `${sent.messageId}\u0000` }]);
      expect(nul.status, JSON.stringify(nul.body)).toBe(400);
      expect(nul.body.error.details).toEqual([
        { path: '[0].tidings_message_id', message: 'must not contain NUL (\\u0000) characters' },
      ]);
      expect((await message(sent.messageId)).status).toBe('sent');
      expect((await post([delivered])).status).toBe(200);
      expect((await message(sent.messageId)).status).toBe('delivered');
      // Matched by the custom arg the adapter sends, too.
      expect((await post([{ event: 'open', tidings_message_id: sent.messageId, timestamp: 2 }])).status).toBe(
        200,
      );
      expect((await message(sent.messageId)).status).toBe('read');
      // SendGrid delivers events more than once: a spam report applies once per sg_event_id.
      const report = (id: string) => ({
        event: 'spamreport',
        email: 'reader@example.com',
        tidings_message_id: sent.messageId,
        sg_event_id: id,
        timestamp: 3,
      });
      const marketingEmail = async () =>
        (await server.call('GET', '/v1/subscribers/sg-1/preferences')).body.categories.marketing?.email;
      expect((await post([report('c3BhbXJlcG9ydC0x')])).status).toBe(200);
      expect(await marketingEmail()).toBe(false);
      const optIn = { categories: { marketing: { email: true } } };
      expect((await server.call('PATCH', '/v1/subscribers/sg-1/preferences', optIn)).status).toBe(200);
      expect((await post([report('c3BhbXJlcG9ydC0x')])).status).toBe(200);
      expect(await marketingEmail()).toBe(true);
      expect((await post([report('c3BhbXJlcG9ydC0y')])).status).toBe(200);
      expect(await marketingEmail()).toBe(false);
      // A batch of many reports about one message (each its own id) answers for all of them and
      // adds its entry to the timeline once: each append rewrote the whole, ever longer timeline.
      const batch = Array.from({ length: 300 }, (_, n) => report(`batch-${n}`));
      const answer = await post(batch);
      expect(answer.status).toBe(200);
      expect(answer.body.received).toBe(300);
      const complaints = (await message(sent.messageId)).timeline.filter(
        (entry: { status: string }) => entry.status === 'complaint',
      );
      expect(complaints).toHaveLength(1);
    } finally {
      await server.call('DELETE', '/v1/integrations/mail-sg');
      await server.call('PUT', '/v1/integrations/mail-sg', {
        channel: 'email',
        provider: 'sendgrid',
        priority: 9,
        config: { from: 'news@acme.example', endpoint: sendgrid.url },
        credentials: { apiKey: SENDGRID_TEST_KEY },
      });
    }
  });
});
