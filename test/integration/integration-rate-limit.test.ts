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
});
