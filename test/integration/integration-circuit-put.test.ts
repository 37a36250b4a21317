import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

const SECRET = `whsec_${Buffer.from('circuit-put-test-signing-key').toString('base64')}`;

describe('a PUT answers with the circuit as it is after the PUT', () => {
  let server: TestServer;
  let receiver: WebhookReceiver;
  let refusing: number;

  beforeAll(async () => {
    [server, receiver, refusing] = await Promise.all([
      // The default cool-down (30 s): the circuit stays open for the whole test unless reset.
      startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
      startWebhookReceiver(),
      closedPort(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), receiver?.close()]);
  });

  const putHook = (url: string) =>
    server.call('PUT', '/v1/integrations/hook', {
      channel: 'webhook',
      provider: 'webhook',
      config: { url },
      credentials: { secret: SECRET },
    });

  it('an open circuit reads closed in the answer of the PUT that resets it, and in every GET after', async () => {
    expect((await putHook(`http://127.0.0.1:${refusing}/in`)).status).toBe(200);
    await server.call('PUT', '/v1/workflows/hook', {
      channels: [{ channel: 'webhook', template: { summary: 'n {{ data.n }}' } }],
    });
    // Five first tries refused at once (connection refused: the integration is down) open it.
    const bulk = await server.call('POST', '/v1/events/bulk', {
      events: Array.from({ length: 5 }, (_, n) => ({ workflow: 'hook', to: [`user-${n}`], data: { n } })),
    });
    expect(bulk.status).toBe(202);
    const opened: Json = await waitFor(async () => {
      const view = (await server.call('GET', '/v1/integrations/hook')).body;
      return view.circuit.state === 'open' ? view : null;
    }, 'the circuit to open');
    expect(opened.health).toBe('down');

    // Fixed: the integration now points at a receiver that answers.
    const fixed = await putHook(`${receiver.url}in`);
    expect(fixed.status).toBe(200);
    expect(fixed.body.circuit).toEqual({ state: 'closed', failures: 0, openedAt: null });
    expect(fixed.body.health).toBe('healthy');
    const shown = (await server.call('GET', '/v1/integrations/hook')).body;
    expect(shown.circuit).toEqual({ state: 'closed', failures: 0, openedAt: null });
    const listed = (await server.call('GET', '/v1/integrations')).body.items;
    expect(listed.find((i: Json) => i.id === 'hook').circuit.state).toBe('closed');

    // And it is: the retries go through the changed integration and arrive.
    await receiver.waitFor(5, 20_000);
    expect((await server.call('GET', '/v1/integrations/hook')).body.circuit.state).toBe('closed');
  });
});
