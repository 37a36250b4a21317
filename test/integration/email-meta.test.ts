import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let mail: ServerWithMail;
let sandbox: TestServer;

const workflow = { channels: [{ channel: 'email', template: { subject: 'Receipt', text: 'Paid' } }] };

beforeAll(async () => {
  [mail, sandbox] = await Promise.all([
    startServerWithMail({ from: 'Acme <billing@acme.example>' }),
    startTestServer(),
  ]);
  for (const server of [mail.server, sandbox]) {
    expect((await server.call('PUT', '/v1/workflows/receipt', workflow)).status).toBe(200);
  }
});

afterAll(async () => {
  await Promise.all([mail?.close(), sandbox?.close()]);
});

/** Posts `event` and returns its first message once that went out. */
async function sentMessage(server: TestServer, event: Record<string, unknown>) {
  const sent = await server.call('POST', '/v1/events', event);
  expect(sent.status).toBe(202);
  return waitFor(async () => {
    const view = (await server.call('GET', `/v1/events/${sent.body.eventId}`)).body;
    const message = view.messages?.[0];
    if (!message || !['sent', 'delivered'].includes(message.status)) return null;
    return (await server.call('GET', `/v1/messages/${message.messageId}`)).body;
  }, `the ${event.workflow} message sent`);
}

/** Sends one receipt to `ada` and returns her email message once it went out. */
const sentEmail = (server: TestServer) =>
  sentMessage(server, { workflow: 'receipt', to: [{ subscriberId: 'ada', email: 'ada@example.com' }] });

describe('email meta', () => {
  it("names the Message-ID header the email carried, on the sender's domain", async () => {
    const message = await sentEmail(mail.server);
    const [received] = await mail.smtp.waitFor(1);
    expect(received!.header('message-id')).toBe(`<${message.messageId}@acme.example>`);
    expect(message.meta).toEqual({ messageIdHeader: received!.header('message-id') });
    expect(message.providerMessageId).toBe(received!.header('message-id'));
  });

  it('a sandbox email whose rendered replyTo every provider would refuse fails, as it would in production', async () => {
    const step = {
      channel: 'email',
      replyTo: '{{ data.reply }}',
      template: { subject: 'Hi', text: 'Hello' },
    };
    expect((await sandbox.call('PUT', '/v1/workflows/reply', { channels: [step] })).status).toBe(200);
    const sent = await sandbox.call('POST', '/v1/events', {
      workflow: 'reply',
      to: [{ subscriberId: 'dee', email: 'dee@example.com' }],
      data: { reply: 'desk@acme.example\r\nBcc: all@acme.example' },
    });
    expect(sent.status).toBe(202);
    const message = await waitFor(async () => {
      const view = (await sandbox.call('GET', `/v1/events/${sent.body.eventId}`)).body;
      return view.messages?.find((m: { status: string }) => m.status !== 'queued' && m.status !== 'sending');
    }, 'the reply message settled');
    expect(message.status).toBe('failed');
    const timeline = message.timeline.map((entry: { detail: string }) => entry.detail).join('\n');
    expect(timeline).toContain('replyTo is not an email address');
  });

  it('a sandbox SMS names the segments and encoding its body costs, as Twilio would', async () => {
    const sms = { channels: [{ channel: 'sms', template: { body: 'Your code is 123456 ✅' } }] };
    expect((await sandbox.call('PUT', '/v1/workflows/code', sms)).status).toBe(200);
    const message = await sentMessage(sandbox, {
      workflow: 'code',
      to: [{ subscriberId: 'bob', phone: '+15550001111' }],
    });
    expect(message.meta).toEqual({ segments: 1, encoding: 'UCS-2' });
  });

  it('a sandbox push and web push name their device and collapse id, as APNs, FCM and web push would', async () => {
    const push = {
      channels: ['push', 'webpush'].map((channel) => ({
        channel,
        template: { title: 'Build', body: 'Passed', collapseId: 'build-{{ data.build }}' },
      })),
    };
    expect((await sandbox.call('PUT', '/v1/workflows/build', push)).status).toBe(200);
    const devices = {
      phone: { platform: 'fcm', token: 'fcm-token-of-cy-0001' },
      browser: {
        platform: 'webpush',
        subscription: {
          endpoint: 'https://push.example.com/send/cy',
          keys: {
            p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
            auth: 'tBHItJI5svbpez7KI4CCXg',
          },
        },
      },
    };
    for (const [id, device] of Object.entries(devices)) {
      expect((await sandbox.call('PUT', `/v1/subscribers/cy/devices/${id}`, device)).status).toBe(200);
    }
    const sent = await sandbox.call('POST', '/v1/events', {
      workflow: 'build',
      to: ['cy'],
      data: { build: 7 },
    });
    expect(sent.status).toBe(202);
    const messages = await waitFor(async () => {
      const items = (await sandbox.call('GET', `/v1/messages?eventId=${sent.body.eventId}`)).body.items;
      return items.length === 2 && items.every((m: { status: string }) => m.status === 'sent') ? items : null;
    }, 'the push and web push messages sent');
    const meta = Object.fromEntries(
      messages.map((m: { channel: string; meta: unknown }) => [m.channel, m.meta]),
    );
    expect(meta).toEqual({
      push: { deviceId: 'phone', collapseId: 'build-7' },
      webpush: { deviceId: 'browser', collapseId: 'build-7' },
    });
  });

  it('a sandbox push whose rendered collapse id APNs would refuse fails as the real adapters fail it', async () => {
    const long = {
      channels: [{ channel: 'push', template: { title: 'Long', collapseId: '{{ data.id }}' } }],
    };
    expect((await sandbox.call('PUT', '/v1/workflows/long-collapse', long)).status).toBe(200);
    const device = { platform: 'apns', token: 'a'.repeat(64) };
    expect((await sandbox.call('PUT', '/v1/subscribers/dee/devices/phone', device)).status).toBe(200);
    const sent = await sandbox.call('POST', '/v1/events', {
      workflow: 'long-collapse',
      to: ['dee'],
      data: { id: 'x'.repeat(65) },
    });
    expect(sent.status).toBe(202);
    const [message] = await waitFor(async () => {
      const items = (await sandbox.call('GET', `/v1/messages?eventId=${sent.body.eventId}`)).body.items;
      return items.length === 1 && items[0].status === 'failed' ? items : null;
    }, 'the push to fail');
    expect(message.reason).toBe('provider_rejected');
    const detail = (await sandbox.call('GET', `/v1/messages/${message.messageId}`)).body;
    expect(detail.timeline.at(-1)).toMatchObject({
      status: 'failed',
      detail: expect.stringContaining('collapseId is 65 bytes; APNs accepts at most 64'),
    });
    // Written out, it is refused before it is stored; a web push Topic takes any (it is hashed).
    const literal = (channel: string) => ({
      channels: [{ channel, template: { title: 'Long', collapseId: 'ü'.repeat(33) } }],
    });
    const refused = await sandbox.call('PUT', '/v1/workflows/long-literal', literal('push'));
    expect(refused.status).toBe(400);
    expect(refused.body.error.details).toEqual([
      { path: 'channels[0].template.collapseId', message: 'is 66 bytes; APNs accepts at most 64' },
    ]);
    expect((await sandbox.call('PUT', '/v1/workflows/long-literal', literal('webpush'))).status).toBe(200);
  });

  it('a sandbox capture names the Message-ID an SMTP send would have set', async () => {
    const message = await sentEmail(sandbox);
    expect(message).toMatchObject({
      provider: 'sandbox',
      status: 'sent',
      meta: { messageIdHeader: `<${message.messageId}@tidings.invalid>` },
    });
  });
});
