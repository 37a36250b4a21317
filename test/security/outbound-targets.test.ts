import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS, privateDnsName } from '../fakes/outbound.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: message views are read field by field and checked by assertions
type Json = any;

const SECRET = `whsec_${Buffer.from('outbound-test-signing-key').toString('base64')}`;
const FINAL = new Set(['sent', 'failed', 'dead', 'delivered']);

/** Every spelling of a private target the finding named, and a few more ranges. */
const PRIVATE_HOSTS = [
  '127.0.0.1',
  '[::1]',
  '[::ffff:127.0.0.1]',
  '0.0.0.0',
  '2130706433',
  '0x7f000001',
  '0177.0.0.1',
  '127.1',
  'localhost',
  'LOCALHOST.',
  'tidings.localhost',
  '169.254.169.254',
  '[fd00:ec2::254]',
  '10.0.0.7',
  '172.16.5.4',
  '192.168.1.1',
  '100.64.0.1',
  '[fe80::1]',
  '[64:ff9b::7f00:1]',
];

async function putWebhook(server: TestServer, id: string, url: string) {
  return server.call('PUT', `/v1/integrations/${id}`, {
    channel: 'webhook',
    provider: 'webhook',
    config: { url },
    credentials: { secret: SECRET },
  });
}

async function putSmtp(server: TestServer, id: string, host: string, port = 25) {
  return server.call('PUT', `/v1/integrations/${id}`, {
    channel: 'email',
    provider: 'smtp',
    config: { host, port, from: 'Tidings <noreply@tidings.test>' },
  });
}

/** Sends one event through a one-step workflow and returns the message once it settled. */
async function sendOne(server: TestServer, channel: 'webhook' | 'email', settled = FINAL): Promise<Json> {
  const template = channel === 'email' ? { subject: 'Hi', text: 'Hello' } : { text: 'Hello' };
  const workflow = await server.call('PUT', `/v1/workflows/out-${channel}`, {
    name: 'outbound',
    channels: [{ channel, template }],
  });
  expect(workflow.status).toBe(200);
  const event = await server.call('POST', '/v1/events', {
    workflow: `out-${channel}`,
    to: [{ subscriberId: 'ada', email: 'ada@example.test' }],
  });
  expect(event.status).toBe(202);
  return waitFor(async () => {
    const view = (await server.call('GET', `/v1/events/${event.body.eventId}`)).body;
    const message = view.messages?.[0];
    if (!message || !settled.has(message.status)) return null;
    return (await server.call('GET', `/v1/messages/${message.messageId}`)).body;
  }, `the ${channel} message to settle`);
}

describe('finding 2: SSRF with the answer read back', () => {
  let strict: TestServer;
  let open: TestServer;
  let receiver: WebhookReceiver;
  let smtp: FakeSmtp;

  beforeAll(async () => {
    [strict, open, receiver, smtp] = await Promise.all([
      startTestServer(),
      startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
      startWebhookReceiver(),
      startFakeSmtp(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([strict?.close(), open?.close(), receiver?.close(), smtp?.close()]);
  });

  it.each(PRIVATE_HOSTS)('refuses a webhook URL at %s with 422 blocked_target', async (host) => {
    const res = await putWebhook(strict, 'hook', `http://${host}:8080/hook`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('blocked_target');
    expect(res.body.error.details[0].path).toBe('config.url');
    expect((await strict.call('GET', '/v1/integrations/hook')).status).toBe(404);
  });

  it.each(PRIVATE_HOSTS)('refuses an SMTP host at %s with 422 blocked_target', async (host) => {
    const res = await putSmtp(strict, 'mail', host.replace(/^\[(.*)\]$/, '$1'));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('blocked_target');
    expect(res.body.error.details[0].path).toBe('config.host');
  });

  it('fails a message whose host resolves to a private address at send time: failed, blocked_target, not retried', async (ctx) => {
    const name = await privateDnsName();
    if (!name) return ctx.skip('no host name here resolves to a private address only');
    receiver.reset();
    smtp.reset();
    const server = await startTestServer();
    try {
      // Nothing offline can tell what the name resolves to: the PUT is accepted.
      expect((await putWebhook(server, 'hook', `http://${name}:${receiver.port}/`)).status).toBe(200);
      expect((await putSmtp(server, 'mail', name, smtp.port)).status).toBe(200);
      for (const channel of ['webhook', 'email'] as const) {
        const message = await sendOne(server, channel);
        expect(message).toMatchObject({ status: 'failed', reason: 'blocked_target' });
        const statuses = message.timeline.map((e: { status: string }) => e.status);
        expect(statuses.filter((s: string) => s === 'sending')).toHaveLength(1);
        expect(statuses.at(-1)).toBe('failed');
      }
      expect(receiver.received).toHaveLength(0);
      expect(smtp.commands).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('reaches loopback fakes only when TIDINGS_ALLOW_PRIVATE_TARGETS lists them', async () => {
    receiver.reset();
    smtp.reset();
    // Public names and addresses pass at PUT without being contacted; loopback does not.
    expect((await putWebhook(strict, 'public', 'https://hooks.example.com/x')).status).toBe(200);
    expect((await putSmtp(strict, 'public-mail', '203.0.114.9')).status).toBe(200);
    expect((await putWebhook(strict, 'fake', receiver.url)).status).toBe(422);
    expect((await putSmtp(strict, 'fake-mail', smtp.host, smtp.port)).status).toBe(422);

    expect((await putWebhook(open, 'fake', receiver.url)).status).toBe(200);
    expect((await putSmtp(open, 'fake-mail', smtp.host, smtp.port)).status).toBe(200);
    expect(await sendOne(open, 'webhook')).toMatchObject({ status: 'sent', reason: null });
    expect(await sendOne(open, 'email')).toMatchObject({ status: 'sent', reason: null });
    expect(receiver.received).toHaveLength(1);
    expect(smtp.received).toHaveLength(1);
    // The allowance is exactly what is listed: another private range stays closed.
    const other = await putWebhook(open, 'other', 'http://169.254.169.254/latest/meta-data/');
    expect(other.body.error?.code).toBe('blocked_target');
  });

  it('fails a message of an integration stored before the rule that names a loopback address', async () => {
    smtp.reset();
    const server = await startTestServer();
    try {
      // Written straight to the store, as an earlier version accepted it.
      await server.tidings.store.putIntegration(
        {
          tenantId: 'default',
          id: 'legacy',
          channel: 'email',
          provider: 'smtp',
          priority: 1,
          config: { host: '2130706433', port: smtp.port, from: 'Tidings <noreply@tidings.test>' },
          sealedCredentials: null,
          enabled: true,
        },
        Date.now(),
      );
      expect(await sendOne(server, 'email')).toMatchObject({ status: 'failed', reason: 'blocked_target' });
      expect(smtp.commands).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('never puts a receiver answer body in the message view, only the status and its phrase', async () => {
    const leak = 'AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    receiver.reset();
    receiver.setDefaultResponse({ status: 500, body: `{"Code":"Success","SecretAccessKey":"${leak}"}` });
    try {
      expect((await putWebhook(open, 'fake', receiver.url)).status).toBe(200);
      const message = await sendOne(open, 'webhook', new Set(['queued', 'dead', 'failed']));
      const first = await waitFor(async () => {
        const view = (await open.call('GET', `/v1/messages/${message.messageId}`)).body;
        return view.timeline.some((e: { detail?: string }) => e.detail?.includes('HTTP 500')) ? view : null;
      }, 'the first attempt to be recorded');
      const text = JSON.stringify(first);
      expect(text).toContain('HTTP 500 Internal Server Error');
      expect(text).not.toContain('AKIA');
      expect(text).not.toContain('SecretAccessKey');
      // Its retries would go on failing against the same integration while the next test runs.
      await open.call('DELETE', `/v1/events/${first.eventId}`);
    } finally {
      receiver.setDefaultResponse({ status: 200 });
    }
  });

  it('reads refused and unreachable targets the same way, so the timeline is no port scanner', async () => {
    const closed = await startWebhookReceiver();
    const closedUrl = closed.url;
    await closed.close();
    const details: string[] = [];
    for (const url of [closedUrl, 'http://no-such-host.invalid/']) {
      expect((await putWebhook(open, 'fake', url)).status).toBe(200);
      const message = await sendOne(open, 'webhook', new Set(['queued', 'dead', 'failed']));
      const view = await waitFor(async () => {
        const body = (await open.call('GET', `/v1/messages/${message.messageId}`)).body;
        return body.lastError ? body : null;
      }, 'the first attempt to fail');
      details.push(view.lastError);
      await open.call('DELETE', `/v1/events/${view.eventId}`);
    }
    // The integration's circuit may open on these failures (or earlier ones) between the two
    // sends and be named as well; what each target's failure reads as must be the same.
    const failure = (detail: string) => detail.replace(/[\w-]+: circuit open; /g, '');
    expect(failure(details[0]!)).toBe(failure(details[1]!));
    expect(failure(details[0]!)).toContain('no response from the receiver');
    for (const detail of details) expect(detail).not.toMatch(/ECONNREFUSED|ENOTFOUND|EAI_AGAIN/);
  });
});
