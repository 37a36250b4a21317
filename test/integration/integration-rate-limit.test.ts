import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let server: TestServer;
let receiver: WebhookReceiver;

const hook = (extra: Record<string, unknown> = {}) =>
  server.call('PUT', '/v1/integrations/hook', {
    channel: 'webhook',
    provider: 'webhook',
    config: { url: receiver.url },
    credentials: { secret: 'whsec_0123456789abcdef0123456789' },
    ...extra,
  });

beforeAll(async () => {
  [server, receiver] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startWebhookReceiver(),
  ]);
  const workflow = await server.call('PUT', '/v1/workflows/ping', {
    channels: [{ channel: 'webhook', template: { body: 'ping {{ data.n }}' } }],
  });
  expect(workflow.status).toBe(200);
});

afterAll(async () => {
  await Promise.all([server?.close(), receiver?.close()]);
});

describe('integration rateLimit.perSecond', () => {
  it('is validated, stored and shown', async () => {
    for (const perSecond of [0, 1001, 2.5, '5']) {
      const refused = await hook({ rateLimit: { perSecond } });
      expect(refused.status, String(perSecond)).toBe(400);
      expect(refused.body.error.details[0].path).toMatch(/^rateLimit\.perSecond/);
    }
    expect((await hook({ rateLimit: { perSecond: 5, burst: 2 } })).status).toBe(400);
    const accepted = await hook({ rateLimit: { perSecond: 4 } });
    expect(accepted.status).toBe(200);
    expect(accepted.body.rateLimit).toEqual({ perSecond: 4 });
    expect((await server.call('GET', '/v1/integrations/hook')).body.rateLimit).toEqual({ perSecond: 4 });
    // null is no limit, as GET shows one without: what GET shows can be sent back.
    const lifted = await hook({ rateLimit: null });
    expect(lifted.status).toBe(200);
    expect(lifted.body.rateLimit).toBeNull();
    expect((await server.call('GET', '/v1/integrations/hook')).body.rateLimit).toBeNull();
  });

  it('sends beyond the limit wait for a later second; none is dropped', async () => {
    expect((await hook({ rateLimit: { perSecond: 4 } })).status).toBe(200);
    const before = receiver.received.length;
    const sent = await server.call('POST', '/v1/events/bulk', {
      events: Array.from({ length: 12 }, (_, n) => ({ workflow: 'ping', to: [`sub-${n}`], data: { n } })),
    });
    expect(sent.status).toBe(202);
    const received = (await receiver.waitFor(before + 12, 20_000)).slice(before);
    expect(received).toHaveLength(12);
    // 12 at 4 per second take at least three one-second windows, so the first and last sends are
    // more than a second apart; arrival times carry each request's own delay on top (the first one
    // may arrive late, the last one early), hence the allowance. Unlimited, all 12 arrive at once.
    const times = received.map((r) => r.receivedAt);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(750);

    const eventIds: string[] = sent.body.results.map((r: Json) => r.eventId);
    const timelines = (await waitFor(async () => {
      const views = await Promise.all(eventIds.map((id) => server.call('GET', `/v1/events/${id}`)));
      const messages = views.map((v) => v.body.messages?.[0]);
      return messages.every((m) => m?.status === 'sent') ? messages.map((m: Json) => m.timeline) : null;
    }, 'every message sent')) as Json[][];
    const waited = timelines.filter((timeline: Json[]) =>
      timeline.some((entry) => /sends at most 4\/s; waits until/.test(entry.detail ?? '')),
    );
    expect(waited.length).toBeGreaterThanOrEqual(4);
    // Nothing is refused for the limit: waiting is not an attempt.
    expect(timelines.flat().filter((entry: Json) => entry.status === 'failed')).toEqual([]);
  });

  /**
   * The timeline of a message sent through an integration of its own (`id`, limited to 1/s, so its
   * limit starts unused) whose every try is refused asking for no delay, once the message is dead:
   * each retry comes within the second the try before it used and waits for the limit.
   */
  async function deadTimelineAtOnePerSecond(id: string, subscriberId: string): Promise<Json[]> {
    expect((await hook({ enabled: false })).status).toBe(200);
    const limited = await server.call('PUT', `/v1/integrations/${id}`, {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: receiver.url },
      credentials: { secret: 'whsec_0123456789abcdef0123456789' },
      rateLimit: { perSecond: 1 },
    });
    expect(limited.status).toBe(200);
    receiver.setDefaultResponse({ status: 503, headers: { 'retry-after': '0' } });
    try {
      const sent = await server.call('POST', '/v1/events', {
        workflow: 'ping',
        to: [subscriberId],
        data: { n: 0 },
      });
      expect(sent.status).toBe(202);
      const message = (await waitFor(
        async () => {
          const view = await server.call('GET', `/v1/events/${sent.body.eventId}`);
          const found = view.body.messages?.[0];
          return found?.status === 'dead' ? found : null;
        },
        'the message dead',
        30_000,
      )) as Json;
      return (await server.call('GET', `/v1/messages/${message.messageId}`)).body.timeline as Json[];
    } finally {
      receiver.setDefaultResponse({ status: 200 });
      await server.call('DELETE', `/v1/integrations/${id}`);
      await hook();
    }
  }

  // Found by the hostile-input sweep: a send that waited went on as a new job holding the attempts
  // it had left, whose own count started at 1 again, so the timeline said "attempt 1 of 5" on the
  // fourth try and the dead message "gave up after 3 attempts" when 8 had been made.
  it("counts a send's attempts across its waits: the dead message says how many were made", async () => {
    const timeline = await deadTimelineAtOnePerSecond('hook-counted', 'sub-dead');
    const firstTry = timeline.findIndex((entry) => entry.status === 'sending');
    const waited = timeline.findIndex((entry) => /sends at most 1\/s; waits until/.test(entry.detail ?? ''));
    expect(firstTry).toBeGreaterThan(-1);
    expect(waited).toBeGreaterThan(firstTry);
    const tries = timeline.filter((entry) => entry.status === 'sending').map((entry) => entry.detail);
    expect(tries.map((detail: string) => /^attempt (\d+) of (\d+)/.exec(detail)?.slice(1, 3))).toEqual(
      Array.from({ length: 8 }, (_, n) => [String(n + 1), '8']),
    );
    expect(timeline.at(-1)).toMatchObject({ status: 'dead' });
    expect(timeline.at(-1).detail).toMatch(/^gave up after 8 attempts: /);
  });

  // Found with the test above: a send that had waited for a slot went without the limiter on every
  // retry after it, so a failing integration limited to 1/s was sent all 8 tries within a second.
  it('holds the retries of a send that waited to the limit too', async () => {
    const timeline = await deadTimelineAtOnePerSecond('hook-retries', 'sub-retries');
    const entries = timeline.map((entry) =>
      entry.status === 'sending'
        ? 'try'
        : /sends at most 1\/s; waits until/.test(entry.detail ?? '')
          ? 'wait'
          : null,
    );
    const sequence = entries.filter((entry) => entry !== null);
    expect(sequence.filter((entry) => entry === 'try')).toHaveLength(8);
    // Each retry asks for no delay and so comes within the second its try used: it waits for the
    // next one. (One may cross into the next second on its own, so not every retry need wait.)
    expect(sequence.filter((entry) => entry === 'wait').length).toBeGreaterThanOrEqual(6);
  });
});
