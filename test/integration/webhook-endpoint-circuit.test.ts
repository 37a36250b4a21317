import { afterAll, beforeAll, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// Its own server: the events this test leaves failing come back on the retry schedule (seconds to
// hours), which other tests' waits for an empty queue would meet.
let server: TestServer;
let hook: WebhookReceiver;

beforeAll(async () => {
  [server, hook] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startWebhookReceiver({ defaultResponse: { status: 500 } }),
  ]);
  const workflow = await server.call('PUT', '/v1/workflows/hello', {
    channels: [{ channel: 'email', template: { subject: 'Hi', text: 'Hello' } }],
  });
  expect(workflow.status).toBe(200);
  const endpoint = await server.call('PUT', '/v1/webhook-endpoints/failing', {
    url: hook.url,
    events: ['message.sent'],
  });
  expect(endpoint.status).toBe(201);
});

afterAll(async () => {
  await server?.close();
  await hook?.close();
});

async function sendEvent(subscriberId: string): Promise<string> {
  const sent = await server.call('POST', '/v1/events', {
    workflow: 'hello',
    to: [{ subscriberId, email: `${subscriberId}@example.com` }],
  });
  expect(sent.status).toBe(202);
  return sent.body.eventId as string;
}

/** The requests that carried this event's message.sent. */
const requestsFor = (eventId: string) =>
  hook.received.filter((r) => JSON.parse(r.body).data?.eventId === eventId);

async function deliveries(outcome: string): Promise<number> {
  const metrics = await server.call('GET', '/metrics', undefined, { auth: null });
  const line = (metrics.body as string)
    .split('\n')
    .find((l) => l.startsWith(`tidings_webhook_deliveries_total{outcome="${outcome}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

it('makes no request to an endpoint while its circuit is open; a test ping it answers closes the circuit', async () => {
  // Five events whose first attempts fail (500) open the endpoint's circuit.
  for (let n = 1; n <= 5; n++) {
    const eventId = await sendEvent(`failing-${n}`);
    await waitFor(async () => requestsFor(eventId).length > 0, `event ${n}'s webhook attempt`);
  }
  const seen = hook.received.length;
  const sixth = await sendEvent('failing-6');
  await waitFor(
    async () => (await deliveries('circuit_open')) >= 1,
    'an attempt refused by the open circuit',
  );
  expect(requestsFor(sixth)).toEqual([]);
  // The first five's retries are due seconds later: nothing arrived meanwhile but those.
  expect(hook.received.slice(seen).every((r) => JSON.parse(r.body).data?.eventId !== sixth)).toBe(true);
  await waitFor(async () => (await deliveries('failed')) >= 5, 'the five failures counted');

  // The receiver is fixed: a test ping goes whatever the circuit says, and its 2xx closes it.
  hook.setDefaultResponse({ status: 200 });
  const ping = await server.call('POST', '/v1/webhook-endpoints/failing/test');
  expect(ping.status).toBe(202);
  await waitFor(
    async () =>
      hook.received.some((r) => r.headers['webhook-id'] === ping.body.webhookId && r.status === 200),
    'the ping',
  );
  const seventh = await sendEvent('failing-7');
  await waitFor(async () => requestsFor(seventh).some((r) => r.status === 200), "the next event's webhook");
  // Worker threads hand their counts to /metrics now and then: waited for, not read at once.
  await waitFor(async () => (await deliveries('delivered')) >= 2, 'the two 2xx counted');
});

it('a receiver refusing events with a 4xx is up: its circuit stays closed and every event is tried', async () => {
  const refusing = await startWebhookReceiver({ defaultResponse: { status: 400 } });
  try {
    const endpoint = await server.call('PUT', '/v1/webhook-endpoints/refusing', {
      url: refusing.url,
      events: ['message.sent'],
    });
    expect(endpoint.status).toBe(201);
    const reached = (eventId: string) =>
      refusing.received.some((r) => JSON.parse(r.body).data?.eventId === eventId);
    // Past the five failures that would open a circuit, and one more.
    for (let n = 1; n <= 6; n++) {
      const eventId = await sendEvent(`refused-${n}`);
      await waitFor(async () => reached(eventId), `event ${n}'s webhook attempt`);
    }
  } finally {
    await server.call('DELETE', '/v1/webhook-endpoints/refusing');
    await refusing.close();
  }
});
