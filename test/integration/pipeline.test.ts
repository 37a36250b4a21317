import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

const WEBHOOK_SECRET = `whsec_${Buffer.from('a-very-secret-signing-key!').toString('base64')}`;

let server: TestServer;
let smtp: FakeSmtp;
let receiver: WebhookReceiver;

beforeAll(async () => {
  [server, smtp, receiver] = await Promise.all([
    // The fakes listen on loopback, which tenant-directed connections reach only when allowed.
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startFakeSmtp(),
    startWebhookReceiver(),
  ]);
  const email = await server.call('PUT', '/v1/integrations/mail', {
    channel: 'email',
    provider: 'smtp',
    // The fake offers no STARTTLS; AUTH in plain text needs the integration to say so.
    config: { host: smtp.host, port: smtp.port, from: 'Tidings <noreply@tidings.test>', insecure: true },
    credentials: { user: 'relay', pass: 'relay-password' },
  });
  expect(email.status).toBe(200);
  expect(email.body).not.toHaveProperty('credentials');
  const hook = await server.call('PUT', '/v1/integrations/hook', {
    channel: 'webhook',
    provider: 'webhook',
    config: { url: receiver.url },
    credentials: { secret: WEBHOOK_SECRET },
  });
  expect(hook.status).toBe(200);
  const workflow = await server.call('PUT', '/v1/workflows/order-shipped', {
    name: 'Order shipped',
    channels: [
      {
        channel: 'in_app',
        template: {
          title: 'Order {{ data.order }} shipped',
          body: 'Hi {{ subscriber.email }}, {{ data.note }}',
        },
      },
      {
        channel: 'email',
        template: {
          subject: 'Your order {{ data.order }}',
          html: '<p>Hello {{ data.name }}</p><p>{{ data.note }}</p>',
        },
      },
      { channel: 'webhook', template: { text: 'order {{ data.order }} shipped' } },
    ],
  });
  expect(workflow.status).toBe(200);
  expect(workflow.body.version).toBe(1);
});

afterAll(async () => {
  await Promise.all([server?.close(), smtp?.close(), receiver?.close()]);
});

describe('trigger → inbox + email + webhook', () => {
  it('writes the inbox row, sends one email over SMTP and one signed webhook, with timelines', async () => {
    const note = '<script>alert(1)</script> & more';
    const trigger = await server.call('POST', '/v1/events', {
      workflow: 'order-shipped',
      to: [{ subscriberId: 'ada', email: 'ada@example.test' }],
      data: { order: 'A-17', name: 'Ada', note },
    });
    expect(trigger.status).toBe(202);
    expect(trigger.body).toEqual({ eventId: expect.stringMatching(/^evt_/), status: 'accepted' });
    const { eventId } = trigger.body;

    const [mail] = await smtp.waitFor(1);
    expect(mail!.envelope.to).toEqual(['ada@example.test']);
    expect(mail!.header('subject')).toBe('Your order A-17');
    // Event data is escaped in HTML fields, so it can never inject markup.
    expect(mail!.html).toContain('<p>Hello Ada</p><p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</p>');
    expect(mail!.text).toContain('Hello Ada');
    expect(mail!.user).toBe('relay');

    const [hook] = await receiver.waitFor(1);
    const payload = new Webhook(WEBHOOK_SECRET).verify(hook!.body, hook!.headers) as Record<string, unknown>;
    expect(payload).toMatchObject({
      eventId,
      workflow: 'order-shipped',
      subscriberId: 'ada',
      content: { text: 'order A-17 shipped' },
    });

    const event = await waitFor(async () => {
      const res = await server.call('GET', `/v1/events/${eventId}`);
      return res.body.status === 'completed' ? res.body : null;
    }, 'the event to complete');
    expect(event.messages).toHaveLength(3);
    const byChannel = Object.fromEntries(event.messages.map((m: { channel: string }) => [m.channel, m]));
    expect(byChannel.in_app.status).toBe('delivered');
    expect(byChannel.email).toMatchObject({ status: 'sent', provider: 'mail' });
    expect(byChannel.webhook).toMatchObject({ status: 'sent', provider: 'hook' });
    const steps = (m: { timeline: { status: string }[] }) => m.timeline.map((e) => e.status);
    expect(steps(byChannel.in_app)).toEqual(['accepted', 'routed', 'rendered', 'delivered']);
    expect(steps(byChannel.email)).toEqual(['accepted', 'routed', 'rendered', 'queued', 'sending', 'sent']);
    expect(steps(byChannel.webhook)).toEqual(['accepted', 'routed', 'rendered', 'queued', 'sending', 'sent']);
    // API.md: every timeline entry is {"at", "status", "detail"}, here and in the message view
    // (an erased subscriber's messages keep at and status only: personal-data.test.ts).
    const messageView = (await server.call('GET', `/v1/messages/${byChannel.email.messageId}`)).body;
    for (const m of [...event.messages, messageView])
      for (const entry of m.timeline) expect(Object.keys(entry).sort()).toEqual(['at', 'detail', 'status']);
    expect(byChannel.in_app.timeline[2]).toMatchObject({ status: 'rendered', detail: 'in_app content' });
    expect(hook!.headers['webhook-id']).toBe(byChannel.webhook.messageId);
    expect(mail!.header('message-id')).toContain(byChannel.email.messageId);

    // Plain-text fields are not entity-encoded: the inbox shows exactly what was sent.
    const token = (await server.call('POST', '/v1/subscribers/ada/token')).body.token;
    const inbox = await server.call('GET', '/v1/inbox', undefined, { auth: token });
    expect(inbox.body.items).toHaveLength(1);
    expect(inbox.body.items[0]).toMatchObject({
      id: byChannel.in_app.messageId,
      eventId,
      workflow: 'order-shipped',
      title: 'Order A-17 shipped',
      body: `Hi ada@example.test, ${note}`,
      readAt: null,
    });

    const message = await server.call('GET', `/v1/messages/${byChannel.email.messageId}`);
    expect(message.body).toMatchObject({ messageId: byChannel.email.messageId, status: 'sent', eventId });
    expect(smtp.received).toHaveLength(1);
    expect(receiver.received).toHaveLength(1);
  });

  it('uses the sandbox for a channel without an integration, visible through the API', async () => {
    await server.call('PUT', '/v1/workflows/sms-only', {
      channels: [{ channel: 'sms', template: { body: 'Code {{ data.code }}' } }],
    });
    const trigger = await server.call('POST', '/v1/events', {
      workflow: 'sms-only',
      to: [{ subscriberId: 'bob', phone: '+15555550100' }],
      data: { code: '123456' },
    });
    expect(trigger.status).toBe(202);
    const capture = await waitFor(async () => {
      const res = await server.call('GET', '/v1/sandbox/messages?channel=sms');
      return res.body.items[0];
    }, 'the sandbox capture');
    expect(capture).toMatchObject({ channel: 'sms', to: '+15555550100', content: { body: 'Code 123456' } });
    // The capture is written by the provider call, the status after it returns: wait for the second.
    const message = await waitFor(async () => {
      const res = await server.call('GET', `/v1/messages/${capture.messageId}`);
      return res.body.status === 'sending' ? null : res.body;
    }, 'the message to leave sending');
    expect(message).toMatchObject({ status: 'sent', provider: 'sandbox' });
  });

  it('suppresses an SMS to a subscriber without a phone number (no_address), capturing nothing', async () => {
    const trigger = await server.call('POST', '/v1/events', {
      workflow: 'sms-only',
      to: [{ subscriberId: 'no_phone' }],
      data: { code: '654321' },
    });
    expect(trigger.status).toBe(202);
    const sms = await waitFor(async () => {
      const res = await server.call('GET', `/v1/messages?eventId=${trigger.body.eventId}&channel=sms`);
      return res.body.items[0]?.status === 'suppressed' ? res.body.items[0] : null;
    }, 'the SMS to be suppressed');
    expect(sms.reason).toBe('no_address');
    expect(sms.timeline.at(-1)).toMatchObject({ status: 'suppressed', detail: 'no phone number' });
    const captures = await server.call('GET', '/v1/sandbox/messages?channel=sms');
    expect(captures.body.items.map((c: { messageId: string }) => c.messageId)).not.toContain(sms.messageId);
  });

  it('fails a message the SMTP server refuses for good, and does not retry it', async () => {
    smtp.rejectRecipient('gone@example.test', { code: 550, message: '5.1.1 mailbox unavailable' });
    const trigger = await server.call('POST', '/v1/events', {
      workflow: 'order-shipped',
      to: [{ subscriberId: 'gone', email: 'gone@example.test' }],
      data: { order: 'B-1' },
    });
    const email = await waitFor(async () => {
      const res = await server.call('GET', `/v1/messages?eventId=${trigger.body.eventId}&channel=email`);
      const m = res.body.items[0];
      return m && m.status === 'failed' ? m : null;
    }, 'the email to fail');
    expect(email.lastError).toMatch(/550/);
    expect(email.timeline.at(-1).detail).toMatch(/^bad address/);
  });

  it('retries a webhook the receiver cannot take yet, then dead-letters it; a replay sends it', async () => {
    receiver.setDefaultResponse({ status: 503, headers: { 'retry-after': '0' } });
    await server.call('PUT', '/v1/workflows/ping', {
      channels: [{ channel: 'webhook', template: { text: 'ping' } }],
    });
    const before = receiver.received.length;
    const trigger = await server.call('POST', '/v1/events', { workflow: 'ping', to: ['carol'] });
    const dead = await waitFor(
      async () => {
        const res = await server.call('GET', '/v1/dead-letters');
        return res.body.items.find((m: { eventId: string }) => m.eventId === trigger.body.eventId);
      },
      'the webhook to be dead-lettered',
      15_000,
    );
    expect(receiver.received.length - before).toBe(8);
    expect(dead.status).toBe('dead');
    expect(dead.timeline.filter((e: { status: string }) => e.status === 'sending')).toHaveLength(8);
    expect(dead.timeline.at(-1).detail).toMatch(/gave up after 8 attempts: HTTP 503/);
    // Operators see dead jobs of every kind by kind at /metrics (a dead fanout has no dead letter).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(/^tidings_jobs_dead\{kind="send"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);

    receiver.setDefaultResponse({ status: 200 });
    const replay = await server.call('POST', `/v1/dead-letters/${dead.messageId}/replay`);
    expect(replay.status).toBe(202);
    // The replay is a retry of an integration that just spent its retry budget on this message's
    // eight tries: it may wait 1–10 s for the budget (docs/failover.md) before it is sent, so the
    // default 10 s deadline failed once on a loaded CI run.
    await waitFor(
      async () => (await server.call('GET', `/v1/messages/${dead.messageId}`)).body.status === 'sent',
      'the replay',
      30_000,
    );
    const again = await server.call('POST', `/v1/dead-letters/${dead.messageId}/replay`);
    expect(again.status).toBe(409);
    expect(receiver.received.length - before).toBe(9);
  });
});

describe('fanout', () => {
  it('delivers to every member of a large topic exactly once, plus direct recipients', async () => {
    await server.call('PUT', '/v1/workflows/broadcast', {
      channels: [{ channel: 'in_app', template: { title: 'News', body: 'n' } }],
    });
    expect((await server.call('PUT', '/v1/topics/everyone', { name: 'Everyone' })).status).toBe(200);
    const ids = Array.from({ length: 12_345 }, (_, i) => `member_${i}`);
    for (let i = 0; i < ids.length; i += 5000) {
      const res = await server.call('POST', '/v1/topics/everyone/subscribers', {
        subscriberIds: ids.slice(i, i + 5000),
      });
      expect(res.status).toBe(200);
    }
    expect((await server.call('GET', '/v1/topics/everyone')).body.subscriberCount).toBe(12_345);
    const trigger = await server.call('POST', '/v1/events', {
      workflow: 'broadcast',
      to: [{ topic: 'everyone' }, 'member_7', 'outsider'],
    });
    expect(trigger.status).toBe(202);
    const store = server.tidings.store;
    await waitFor(
      async () =>
        (await store.listMessages({ tenantId: 'default', eventId: trigger.body.eventId, limit: 20_000 }))
          .length === 12_346,
      'every member to get the message',
      20_000,
    );
    const messages = await store.listMessages({
      tenantId: 'default',
      eventId: trigger.body.eventId,
      limit: 20_000,
    });
    expect(new Set(messages.map((m) => m.subscriberId)).size).toBe(12_346);
  });

  it('delivers a bulk request mixing direct recipients, topics and long lists, each recipient once', async () => {
    await server.call('PUT', '/v1/workflows/mixed', {
      channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.n }}', body: 'b' } }],
    });
    const squad = ['sq_1', 'sq_2', 'sq_3', 'direct_1'];
    await server.call('PUT', '/v1/topics/squad', {});
    await server.call('POST', '/v1/topics/squad/subscribers', { subscriberIds: squad });
    const long = Array.from({ length: 150 }, (_, i) => `long_${i}`);
    // Events accepted together share first jobs; the topic and long-list ones are paged on their own.
    const events = Array.from({ length: 230 }, (_, n) => ({
      workflow: 'mixed',
      data: { n },
      to: n % 3 === 0 ? [`direct_${n % 5}`] : n % 3 === 1 ? [{ topic: 'squad' }, 'direct_1'] : long,
    }));
    const res = await server.call('POST', '/v1/events/bulk', { events });
    expect(res.status).toBe(202);
    const ids: string[] = res.body.results.map((r: { eventId: string }) => r.eventId);
    const expected = events.map((e) => (e.to === long ? long.length : e.to.length === 1 ? 1 : squad.length));
    const store = server.tidings.store;
    const counts = async () =>
      Promise.all(
        ids.map(async (eventId) => {
          const messages = await store.listMessages({ tenantId: 'default', eventId, limit: 500 });
          return new Set(messages.map((m) => m.subscriberId)).size === messages.length ? messages.length : -1;
        }),
      );
    await waitFor(
      async () => (await counts()).every((n, i) => n === expected[i]),
      'every event delivered',
      20_000,
    );
    const event = await server.call('GET', `/v1/events/${ids[1]}`);
    expect(event.body.messages.map((m: { subscriberId: string }) => m.subscriberId).sort()).toEqual(
      [...squad].sort(),
    );
  });

  it('delivers the rest of a bulk request at once when one of its events cannot be delivered', async () => {
    await server.call('PUT', '/v1/workflows/fine', {
      channels: [{ channel: 'in_app', template: { title: 'Fine {{ data.n }}', body: 'b' } }],
    });
    // A workflow saved by an older version whose template no longer parses (the API refuses it
    // today): its message fails with template_error, and the others are not held up by it.
    await server.tidings.store.putWorkflow(
      'default',
      'broken',
      { channels: [{ channel: 'in_app', template: { title: 'Oops {{ data.n ', body: 'b' } }] },
      Date.now(),
    );
    const events = Array.from({ length: 12 }, (_, n) => ({
      workflow: n === 5 ? 'broken' : 'fine',
      to: [`isolated_${n}`],
      data: { n },
    }));
    const res = await server.call('POST', '/v1/events/bulk', { events });
    expect(res.status).toBe(202);
    const ids: string[] = res.body.results.map((r: { eventId: string }) => r.eventId);
    const messagesOf = (eventId: string) =>
      server.tidings.store.listMessages({ tenantId: 'default', eventId, limit: 10 });
    // They were accepted together, into one first job: the eleven others must not wait for the
    // broken one.
    await waitFor(
      async () => (await Promise.all(ids.map(messagesOf))).every((found) => found.length === 1),
      'the twelve events delivered',
      5000,
    );
    const broken = (await messagesOf(ids[5]!))[0]!;
    expect(broken).toMatchObject({ status: 'failed', reason: 'template_error' });
    expect((await messagesOf(ids[0]!))[0]).toMatchObject({
      status: 'delivered',
      content: { title: 'Fine 0' },
    });
  });
});
