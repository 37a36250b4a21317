import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { callJson, cleanupChildren, startChild, tempDataDir } from '../helpers/child.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';

afterEach(cleanupChildren);

const KEY = 'tdk_integration_changes_0123456789';
const SECRET = 'whsec_0123456789abcdef0123456789';
let before: WebhookReceiver;
let after: WebhookReceiver;

beforeAll(async () => {
  [before, after] = await Promise.all([startWebhookReceiver(), startWebhookReceiver()]);
});
afterAll(async () => {
  await Promise.all([before?.close(), after?.close()]);
});

/**
 * API.md: "A change to an integration applies to every send that starts after the PUT returns
 * (within a second across processes)". The PUT goes to an api process; the sends run in another
 * process's worker, whose list of the tenant's integrations was read just before the PUT.
 */
describe.runIf(postgresAvailable)('an integration changed through another process', () => {
  it('is used by every send that starts a second after its PUT returned', async () => {
    const env = {
      TIDINGS_DATABASE_URL: await freshDatabaseUrl(),
      TIDINGS_API_KEY: KEY,
      TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
    };
    const [sender, api] = await Promise.all([
      startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, { args: ['start'] }),
      startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, { args: ['api'] }),
    ]);
    const hook = (url: string) =>
      callJson(`${api.url}/v1/integrations/hook`, 'PUT', KEY, {
        channel: 'webhook',
        provider: 'webhook',
        config: { url },
        credentials: { secret: SECRET },
      });
    expect((await hook(before.url)).status).toBe(200);
    const workflow = await callJson(`${api.url}/v1/workflows/ping`, 'PUT', KEY, {
      channels: [{ channel: 'webhook', template: { body: 'ping {{ data.n }}' } }],
    });
    expect(workflow.status).toBe(200);
    const send = async (n: number) =>
      expect(
        (
          await callJson(`${sender.url}/v1/events`, 'POST', KEY, {
            workflow: 'ping',
            to: ['ada'],
            data: { n },
          })
        ).status,
      ).toBe(202);

    // The sender's worker reads the tenant's integrations for this send, just before the PUT.
    await send(1);
    await before.waitFor(1, 30_000);
    expect((await hook(after.url)).status).toBe(200);
    const putReturned = Date.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, putReturned + 1_000 - Date.now())));
    await send(2);
    await after.waitFor(1, 30_000);
    expect(before.received).toHaveLength(1);
  }, 120_000);
});
