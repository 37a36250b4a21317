import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAnswer, requestProvider } from '../../src/channels/http.ts';
import type { OutboundMessage } from '../../src/channels/port.ts';
import { generateWebhookSecret, signWebhook } from '../../src/channels/webhook/signature.ts';
import { createWebhookProvider, NO_RESPONSE } from '../../src/channels/webhook/webhook.ts';
import { loopbackContext } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';

function webhookMessage(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    tenantId: 'ten_1',
    messageId: 'msg_01HOOK',
    eventId: 'evt_01HOOK',
    workflow: 'order-shipped',
    channel: 'webhook',
    subscriber: { id: 'sub_9', email: null, phone: null, locale: null, timezone: null },
    content: { title: 'Shipped', body: 'Your order is on its way' },
    data: { orderId: 'A-17', items: [{ sku: 'x', qty: 2 }] },
    ...overrides,
  };
}

describe('standard webhooks signature', () => {
  it('matches the Standard Webhooks reference vector', () => {
    const signature = signWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('agrees with the standardwebhooks library for generated and raw secrets', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const at = new Date(1_700_000_000_000);
    expect(signWebhook(secret, 'id1', 1_700_000_000, 'body')).toBe(
      new Webhook(secret).sign('id1', at, 'body'),
    );
    expect(signWebhook('plain-text-secret', 'id1', 1_700_000_000, 'body')).toBe(
      new Webhook('plain-text-secret', { format: 'raw' }).sign('id1', at, 'body'),
    );
  });
});

describe('webhook provider against a real HTTP server', () => {
  let receiver: WebhookReceiver;
  const secret = generateWebhookSecret();
  const context = loopbackContext();

  beforeEach(async () => {
    receiver = await startWebhookReceiver();
  });

  afterEach(async () => {
    await context.outbound.close();
    await receiver.close();
  });

  const provider = (timeoutMs?: number) =>
    createWebhookProvider({ url: receiver.url, timeoutMs }, { secret }, context);

  it('POSTs a signed JSON payload that standardwebhooks verifies', async () => {
    const outcome = await provider().send(webhookMessage());

    expect(outcome).toEqual({ kind: 'accepted', detail: 'HTTP 200 OK' });
    const [request] = await receiver.waitFor(1);
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['webhook-id']).toBe('msg_01HOOK');
    const skew = Math.abs(Number(request?.headers['webhook-timestamp']) - Date.now() / 1000);
    expect(skew).toBeLessThan(5);
    const verified = new Webhook(secret).verify(request?.body ?? '', request?.headers ?? {});
    expect(verified).toEqual({
      type: 'message',
      messageId: 'msg_01HOOK',
      eventId: 'evt_01HOOK',
      workflow: 'order-shipped',
      subscriberId: 'sub_9',
      channel: 'webhook',
      content: { title: 'Shipped', body: 'Your order is on its way' },
      data: { orderId: 'A-17', items: [{ sku: 'x', qty: 2 }] },
    });
    expect(() =>
      new Webhook(generateWebhookSecret()).verify(request?.body ?? '', request?.headers ?? {}),
    ).toThrow();
  });

  it('keeps webhook-id stable across retries so receivers can deduplicate', async () => {
    receiver.respondWith({ status: 500 });
    const p = provider();
    expect((await p.send(webhookMessage())).kind).toBe('retryable');
    expect((await p.send(webhookMessage())).kind).toBe('accepted');
    const requests = await receiver.waitFor(2);
    expect(requests.map((r) => r.headers['webhook-id'])).toEqual(['msg_01HOOK', 'msg_01HOOK']);
  });

  it('maps 503 with Retry-After to retryable with retryAfterMs', async () => {
    receiver.respondWith({ status: 503, headers: { 'retry-after': '7' }, body: 'maintenance' });
    const outcome = await provider().send(webhookMessage());
    expect(outcome).toEqual({
      kind: 'retryable',
      reason: 'HTTP 503 Service Unavailable',
      retryAfterMs: 7000,
    });
  });

  it('maps 410 Gone to bad_address', async () => {
    receiver.respondWith({ status: 410 });
    expect((await provider().send(webhookMessage())).kind).toBe('bad_address');
  });

  it("maps 400 to permanent with the status's standard phrase, never the receiver's body", async () => {
    receiver.respondWith({ status: 400, body: `{"error":"bad payload"}${' '.repeat(5000)}x` });
    const outcome = await provider().send(webhookMessage());
    expect(outcome).toEqual({ kind: 'permanent', reason: 'HTTP 400 Bad Request' });
  });

  it('does not follow redirects', async () => {
    receiver.respondWith({ status: 307, headers: { location: `${receiver.url}elsewhere` } });
    const outcome = await provider().send(webhookMessage());
    expect(outcome.kind).toBe('permanent');
    expect(receiver.received).toHaveLength(1);
  });

  it('maps a timeout to retryable', async () => {
    receiver.respondWith({ status: 200, delayMs: 2_000 });
    const started = Date.now();
    const outcome = await provider(200).send(webhookMessage());
    expect(outcome).toEqual({ kind: 'retryable', reason: NO_RESPONSE });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('maps a refused connection to a broken integration (retryable, failing over)', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const port = typeof address === 'object' && address ? address.port : 1;
    const outcome = await createWebhookProvider(
      { url: `http://127.0.0.1:${port}/` },
      { secret },
      context,
    ).send(webhookMessage());
    expect(outcome).toEqual({ kind: 'retryable', reason: NO_RESPONSE, integrationFailed: true });
  });

  it('rejects a non-http url up front', () => {
    expect(() => createWebhookProvider({ url: 'ftp://example.test/' }, { secret }, context)).toThrow(/http/);
  });
});

/**
 * A receiver that answers 200 at once and then sends its body without end: a chunk every 20 ms
 * (`trickle`) or as fast as the client reads. Resolves `closed` with the bytes it wrote once the
 * client hangs up.
 */
async function startEndlessBody(pace: 'trickle' | 'flood') {
  let closedWith!: (bytes: number) => void;
  const closed = new Promise<number>((resolve) => {
    closedWith = resolve;
  });
  const server = createHttpServer((req, res) => {
    req.resume();
    let written = 0;
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      clearInterval(timer);
      closedWith(written);
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(pace === 'trickle' ? 16 : 64 * 1024, 0x20);
    const more = () => {
      while (!res.destroyed) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
    };
    if (pace === 'trickle')
      timer = setInterval(() => {
        written += chunk.length;
        res.write(chunk);
      }, 20);
    else more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    closed,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('a receiver that never finishes its answer', () => {
  const context = loopbackContext();
  afterEach(() => context.outbound.close());

  for (const pace of ['trickle', 'flood'] as const) {
    it(`frees the send slot at the deadline or the read cap (${pace})`, async () => {
      const endless = await startEndlessBody(pace);
      try {
        const started = Date.now();
        // The webhook channel drains at most 128 KB; its deadline covers the body too.
        const hook = await createWebhookProvider(
          { url: endless.url, timeoutMs: 500 },
          { secret: generateWebhookSecret() },
          context,
        ).send(webhookMessage());
        expect(hook).toEqual({ kind: 'accepted', detail: 'HTTP 200 OK' });
        // The other HTTP providers read at most 64 KB of an answer, within their deadline.
        const answer = await requestProvider(context, new URL(endless.url), {
          method: 'POST',
          path: '/',
          headers: {},
          body: '{}',
          timeoutMs: 500,
        });
        expect(isAnswer(answer) && answer.status).toBe(200);
        expect(isAnswer(answer) && answer.body.length).toBeLessThanOrEqual(64 * 1024);
        // Neither waited for the body's end: it has none.
        expect(Date.now() - started).toBeLessThan(5_000);
        // The connection was given up, not left open for the pool.
        await endless.closed;
      } finally {
        await endless.close();
      }
    });
  }
});
