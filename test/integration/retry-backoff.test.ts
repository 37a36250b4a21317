import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SEND_MAX_ATTEMPTS } from '../../src/pipeline/deps.ts';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { runSends } from '../helpers/send-handler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A send's retries back off by the send's attempts, not its job's: a send that waited for an
 * integration's rate-limit slot (or a retry budget) goes on as a new job, which must not start
 * the backoff over.
 */

let server: TestServer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  [server, receiver] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startWebhookReceiver(),
  ]);
  const hook = await server.call('PUT', '/v1/integrations/hook', {
    channel: 'webhook',
    provider: 'webhook',
    config: { url: receiver.url },
    credentials: { secret: 'whsec_0123456789abcdef0123456789' },
  });
  expect(hook.status).toBe(200);
  const workflow = await server.call('PUT', '/v1/workflows/ping', {
    channels: [{ channel: 'webhook', template: { body: 'ping' } }],
  });
  expect(workflow.status).toBe(200);
  // Every try is refused with a 503 that names no delay: the backoff decides it.
  receiver.setDefaultResponse({ status: 503 });
});

afterAll(async () => {
  await Promise.all([server?.close(), receiver?.close()]);
});

afterEach(() => vi.restoreAllMocks());

async function queuedWebhook(id: string): Promise<void> {
  await server.tidings.store.createMessages([
    {
      record: messageRecord({
        tenantId: 'default',
        id,
        subscriberId: 'ada',
        channel: 'webhook',
        workflow: 'ping',
        status: 'queued',
        provider: null,
        content: { body: 'ping' },
        timeline: [{ at: new Date().toISOString(), status: 'queued', detail: 'normal lane' }],
        eventAt: Date.now(),
        createdAt: Date.now(),
        updatedAt: Date.now(),
      }),
      followUp: null,
    },
  ]);
}

describe('retry backoff', () => {
  it('counts the attempts made before a wait: the 4th attempt of a send backs off as a 4th', async () => {
    // The top of full jitter's range, so the delay shows its ceiling: 1 s · 2^(attempt − 1).
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    await queuedWebhook('msg_backoff_first');
    const [first] = await runSends(server, ['msg_backoff_first'], { allowPrivateTargets: LOOPBACK_TARGETS });
    expect(first).toMatchObject({ kind: 'retry', delayMs: 999 });

    // Three attempts failed, then the send waited for a slot: its new job has 5 attempts left.
    await queuedWebhook('msg_backoff_fourth');
    const [fourth] = await runSends(server, ['msg_backoff_fourth'], {
      allowPrivateTargets: LOOPBACK_TARGETS,
      job: { attempts: 1, maxAttempts: SEND_MAX_ATTEMPTS - 3 },
    });
    expect(fourth).toMatchObject({ kind: 'retry', delayMs: 7992 });
    const view = (await server.call('GET', '/v1/messages/msg_backoff_fourth')).body;
    expect(view.timeline.at(-1).detail).toMatch(/retry in 8 s \(attempt 4 of 8\)/);
  });

  it("uses a provider's Retry-After of at most 5 min as the next delay, and waits 5 min for a longer one", async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    try {
      receiver.setDefaultResponse({ status: 429, headers: { 'retry-after': '300' } });
      await queuedWebhook('msg_retry_after_5min');
      const [within] = await runSends(server, ['msg_retry_after_5min'], {
        allowPrivateTargets: LOOPBACK_TARGETS,
      });
      expect(within).toMatchObject({ kind: 'retry', delayMs: 300_000 });

      // A day's wait (a provider's daily quota) is not taken whole: the send waits the 5 min cap.
      receiver.setDefaultResponse({ status: 429, headers: { 'retry-after': '86400' } });
      await queuedWebhook('msg_retry_after_day');
      const [beyond] = await runSends(server, ['msg_retry_after_day'], {
        allowPrivateTargets: LOOPBACK_TARGETS,
      });
      expect(beyond).toMatchObject({ kind: 'retry', delayMs: 300_000 });
      const view = (await server.call('GET', '/v1/messages/msg_retry_after_day')).body;
      expect(view.timeline.at(-1).detail).toMatch(
        /^HTTP 429 Too Many Requests; retry in 300 s \(attempt 1 of 8\)$/,
      );
    } finally {
      receiver.setDefaultResponse({ status: 503 });
    }
  });
});
