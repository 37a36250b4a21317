import { afterAll, beforeAll, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// Its own server: the status webhook this test holds comes back on a retry, which other tests'
// waits for an empty queue would meet.
let server: TestServer;
let hook: WebhookReceiver;

beforeAll(async () => {
  [server, hook] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startWebhookReceiver(),
  ]);
  for (const [key, channels] of [
    ['mail', [{ channel: 'email', template: { subject: 'Hi', text: 'Hello' } }]],
    ['feed', [{ channel: 'in_app', template: { title: 'Item {{ data.n }}' } }]],
  ] as const)
    expect((await server.call('PUT', `/v1/workflows/${key}`, { channels })).status).toBe(200);
  const endpoint = await server.call('PUT', '/v1/webhook-endpoints/app', {
    url: hook.url,
    events: ['message.sent'],
  });
  expect(endpoint.status).toBe(201);
});

afterAll(async () => {
  await server?.close();
  await hook?.close();
});

const messagesOf = async (subscriberId: string) =>
  (await server.call('GET', `/v1/messages?subscriberId=${subscriberId}&limit=200`)).body.items as unknown[];

it('a status webhook still to go out when its subscriber is erased names them by the erased id', async () => {
  // More messages than the DELETE's own transaction erases (100): the erasure job's last part
  // shows it has run, and it reads the queue before it erases messages.
  const feed = Array.from({ length: 120 }, (_, n) => ({ workflow: 'feed', to: ['ada'], data: { n } }));
  expect((await server.call('POST', '/v1/events/bulk', { events: feed })).status).toBe(202);
  await waitFor(async () => (await messagesOf('ada')).length === 120, 'the 120 inbox items');

  // The email's message.sent is held at the receiver while ada is erased, then answered 503.
  let release!: () => void;
  hook.respondWith({
    status: 503,
    headers: { 'retry-after': '1' },
    until: new Promise<void>((resolve) => {
      release = resolve;
    }),
  });
  const sent = await server.call('POST', '/v1/events', {
    workflow: 'mail',
    to: [{ subscriberId: 'ada', email: 'ada@example.com' }],
  });
  expect(sent.status).toBe(202);
  const [first] = await hook.waitFor(1);
  expect(first!.json()).toMatchObject({ type: 'message.sent', data: { subscriberId: 'ada' } });

  expect((await server.call('DELETE', '/v1/subscribers/ada')).status).toBe(202);
  await waitFor(async () => (await messagesOf('ada')).length === 0, 'every message of ada erased');
  release();

  // The retry goes out as the erased message reads: by the erased id, nothing else changed.
  const [, retry] = await hook.waitFor(2, 15_000);
  expect(retry!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
  const body = retry!.json() as { data: Record<string, unknown> };
  expect(body.data.subscriberId).toMatch(/^erased:/);
  const message = await server.call('GET', `/v1/messages/${body.data.messageId}`);
  expect(message.body.subscriberId).toBe(body.data.subscriberId);
  expect({ ...body, data: { ...body.data, subscriberId: 'ada' } }).toEqual(first!.json());
});
