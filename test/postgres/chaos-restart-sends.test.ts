import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { callJson, cleanupChildren, startChild, tempDataDir } from '../helpers/child.ts';
import { type PgCluster, postgresBinDir, startPgCluster } from '../helpers/pg-cluster.ts';
import { waitFor } from '../helpers/wait.ts';

// PostgreSQL restarted while messages are being sent (issue 12, item 7). On a private cluster
// this file starts (test/helpers/pg-cluster.ts; never the machine's shared server), stopped with
// `-m immediate` (a crash, as the server sees it) once sends are under way: every message must
// end sent, each reaching the provider, a repeat only under the same webhook-id.

const KEY = 'tdk_chaos_pg_restart_0123456789abc';
const EVENTS = 40;
const RESTART_AFTER = 10;
const SECRET = `whsec_${Buffer.from('chaos-pg-restart-signing-key').toString('base64')}`;

const binaries = postgresBinDir();
if (!binaries && process.env.CI)
  throw new Error('PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI');

describe.skipIf(!binaries)('PostgreSQL restarted mid-send', () => {
  let cluster: PgCluster | null = null;
  let receiver: WebhookReceiver | null = null;

  beforeAll(async () => {
    cluster = await startPgCluster();
  }, 60_000);
  afterEach(async () => {
    await cleanupChildren();
    await receiver?.close();
  });
  afterAll(async () => {
    await cluster?.cleanup();
  }, 30_000);

  it('every message ends sent; repeats only under the same webhook-id', async () => {
    const db = cluster!;
    receiver = await startWebhookReceiver({ defaultResponse: { status: 200, delayMs: 200 } });
    const child = await startChild(
      {
        TIDINGS_DATABASE_URL: await db.createDatabase('tidings_chaos_sends'),
        TIDINGS_DATA_DIR: tempDataDir('tidings-chaos-pg-'),
        TIDINGS_API_KEY: KEY,
        TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
        TIDINGS_LEASE_MS: '3000',
      },
      { healthyWithinMs: 30_000 },
    );
    const hook = await callJson(`${child.url}/v1/integrations/hook`, 'PUT', KEY, {
      channel: 'webhook',
      provider: 'webhook',
      config: { url: receiver.url },
      credentials: { secret: SECRET },
    });
    expect(hook.status, JSON.stringify(hook.body)).toBe(200);
    const workflow = await callJson(`${child.url}/v1/workflows/w`, 'PUT', KEY, {
      channels: [{ channel: 'webhook', template: { text: '{{ data.n }}' } }],
    });
    expect(workflow.status).toBe(200);

    const events = Array.from({ length: EVENTS }, (_, n) => ({
      workflow: 'w',
      to: [`pg_${n}`],
      data: { n },
    }));
    const posted = await callJson(`${child.url}/v1/events/bulk`, 'POST', KEY, { events });
    expect(posted.status, JSON.stringify(posted.body)).toBe(202);
    const eventIds: string[] = posted.body.results.map((r: { eventId: string }) => r.eventId);

    await receiver.waitFor(RESTART_AFTER, 15_000);
    const atRestart = new Set(receiver.received.map((request) => request.headers['webhook-id']));
    await db.restart({ mode: 'immediate', downMs: 1_000 });
    expect(atRestart.size).toBeLessThan(EVENTS);

    const statuses = async () =>
      Promise.all(
        eventIds.map(async (id) => {
          const event = await callJson(`${child.url}/v1/events/${id}`, 'GET', KEY);
          return event.status === 200 ? event.body.messages?.[0] : undefined;
        }),
      );
    const messages = await waitFor(
      async () => {
        const found = await statuses();
        return found.every((m) => m?.status === 'sent') ? found : null;
      },
      'every message sent',
      25_000,
      250,
    ).catch(async (error: Error) => {
      const found = await statuses().catch(() => []);
      throw new Error(
        `${error.message}: ${JSON.stringify(found.map((m) => m?.status))}\n` +
          `${(child.stdout() + child.stderr()).slice(-3_000)}`,
      );
    });

    expect(child.proc.exitCode).toBeNull();
    const ids = new Set(messages!.map((m) => m.messageId as string));
    const seen = new Map<string, number>();
    for (const request of receiver.received) {
      const id = request.headers['webhook-id']!;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    expect(new Set(seen.keys())).toEqual(ids);
    for (const [id, count] of seen) {
      if (count === 1) continue;
      // A repeat is a send whose outcome could not be recorded while the server was down (today
      // that is most sends in flight around the restart: the send handler does not hold on to an
      // outcome it failed to write, the job runs again and sends again, under the same id).
      expect(count, id).toBeLessThanOrEqual(2);
    }
    const repeats = receiver.received.length - seen.size;
    console.info(
      `[pg restart mid-send] sent before the restart: ${atRestart.size}/${EVENTS}; repeats: ${repeats}`,
    );
  }, 60_000);
});
