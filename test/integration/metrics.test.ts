import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LANES } from '../../src/shared/model.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/** Workers on a thread of their own (the default), handing their counts over. */
let server: TestServer;
/** Workers on the API's own thread, counting straight into its registry. */
let inProcess: TestServer;
/** An API without workers: what it accepts stays in the queue. */
let apiOnly: TestServer;

beforeAll(async () => {
  [server, inProcess, apiOnly] = await Promise.all([
    startTestServer(),
    startTestServer({ TIDINGS_WORKER_THREADS: '0' }),
    startTestServer({}, ['api']),
  ]);
  const workflow = {
    channels: [
      { channel: 'in_app', template: { title: 'Hi' } },
      { channel: 'email', template: { subject: 'Hi', text: 'Hi' } },
    ],
  };
  for (const s of [server, inProcess, apiOnly])
    expect((await s.call('PUT', '/v1/workflows/metered', workflow)).status).toBe(200);
});

afterAll(async () => {
  await Promise.all([server?.close(), inProcess?.close(), apiOnly?.close()]);
});

/** The samples of /metrics (no auth): `name{labels}` → value. */
async function scrape(s: TestServer): Promise<Map<string, number>> {
  const response = await fetch(`${s.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const sample = (samples: Map<string, number>, name: string) => samples.get(name) ?? 0;

describe('/metrics', () => {
  it.each([
    ['on a worker thread', () => server],
    ['on the API thread', () => inProcess],
  ])(
    'counts accepted events, messages by channel and status, provider answers and delivery latency (workers %s)',
    async (_where, serverOf) => {
      const server = serverOf();
      const before = await scrape(server);
      const events = await Promise.all(
        ['m_1', 'm_2', 'm_3'].map((id) =>
          server.call('POST', '/v1/events', {
            workflow: 'metered',
            to: [{ subscriberId: id, email: `${id}@example.com` }],
          }),
        ),
      );
      for (const e of events) expect(e.status).toBe(202);
      for (const e of events)
        await waitFor(async () => {
          const view = (await server.call('GET', `/v1/events/${e.body.eventId}`)).body;
          return (
            view.messages?.length === 2 &&
            view.messages.every((m: Json) => ['delivered', 'sent'].includes(m.status))
          );
        }, 'both messages out');

      // Deliveries run on a worker thread, which hands its counts over once a second.
      const after = (await waitFor<Map<string, number> | null>(async () => {
        const now = await scrape(server);
        const sent = 'tidings_messages_total{channel="email",status="sent"}';
        return sample(now, sent) - sample(before, sent) >= 3 ? now : null;
      }, 'the worker thread’s counts on /metrics'))!;
      const grew = (name: string) => sample(after, name) - sample(before, name);
      expect(grew('tidings_events_accepted_total{outcome="accepted"}')).toBe(3);
      expect(grew('tidings_messages_total{channel="in_app",status="delivered"}')).toBe(3);
      expect(grew('tidings_messages_total{channel="email",status="queued"}')).toBe(3);
      expect(grew('tidings_messages_total{channel="email",status="sending"}')).toBe(3);
      expect(grew('tidings_messages_total{channel="email",status="sent"}')).toBe(3);
      expect(grew('tidings_provider_requests_total{provider="sandbox",outcome="accepted"}')).toBe(3);
      for (const channel of ['in_app', 'email']) {
        const labels = `channel="${channel}",lane="normal"`;
        expect(grew(`tidings_delivery_latency_seconds_count{${labels}}`)).toBe(3);
        expect(sample(after, `tidings_delivery_latency_seconds_bucket{${labels},le="+Inf"}`)).toBe(
          sample(after, `tidings_delivery_latency_seconds_count{${labels}}`),
        );
        expect(sample(after, `tidings_delivery_latency_seconds_sum{${labels}}`)).toBeGreaterThan(0);
      }
      // A receipt made through the API counts on the API thread.
      const email = (await server.call('GET', '/v1/messages?channel=email&subscriberId=m_1')).body.items[0];
      const receipt = await server.call('POST', `/v1/messages/${email.messageId}/receipt`, {
        status: 'delivered',
      });
      expect(receipt.status).toBe(200);
      const afterReceipt = await scrape(server);
      expect(
        sample(afterReceipt, 'tidings_messages_total{channel="email",status="delivered"}') -
          sample(before, 'tidings_messages_total{channel="email",status="delivered"}'),
      ).toBe(1);
      // So does an inbox read by the subscriber.
      const item = (await server.call('GET', '/v1/messages?channel=in_app&subscriberId=m_2')).body.items[0];
      const token = (await server.call('POST', '/v1/subscribers/m_2/token')).body.token;
      expect(
        (await server.call('POST', `/v1/inbox/${item.messageId}/read`, undefined, { auth: token })).status,
      ).toBe(200);
      expect(
        (await server.call('POST', `/v1/inbox/${item.messageId}/read`, undefined, { auth: token })).status,
      ).toBe(200);
      const afterRead = await scrape(server);
      expect(
        sample(afterRead, 'tidings_messages_total{channel="in_app",status="read"}') -
          sample(before, 'tidings_messages_total{channel="in_app",status="read"}'),
      ).toBe(1);
      // And the first click on an inbox item (a clicked receipt); a second one changes nothing.
      const clicked = (await server.call('GET', '/v1/messages?channel=in_app&subscriberId=m_3')).body
        .items[0];
      const m3 = { auth: (await server.call('POST', '/v1/subscribers/m_3/token')).body.token };
      for (let n = 0; n < 2; n++)
        expect(
          (await server.call('POST', `/v1/inbox/${clicked.messageId}/click`, undefined, m3)).status,
        ).toBe(200);
      const afterClick = await scrape(server);
      expect(
        sample(afterClick, 'tidings_messages_total{channel="in_app",status="clicked"}') -
          sample(before, 'tidings_messages_total{channel="in_app",status="clicked"}'),
      ).toBe(1);
      for (const lane of LANES) expect(after.get(`tidings_queue_depth{lane="${lane}"}`)).toBeDefined();
    },
  );

  it('reads queue depth and lag per lane at scrape time', async () => {
    const idle = await scrape(apiOnly);
    for (const lane of LANES) {
      expect(idle.get(`tidings_queue_depth{lane="${lane}"}`)).toBe(0);
      expect(idle.get(`tidings_queue_lag_seconds{lane="${lane}"}`)).toBe(0);
    }
    const accepted = await apiOnly.call('POST', '/v1/events', {
      workflow: 'metered',
      to: ['q_1'],
      priority: 'high',
    });
    expect(accepted.status).toBe(202);
    // Scheduled work is not due: it is no backlog.
    await apiOnly.call('POST', '/v1/events', {
      workflow: 'metered',
      to: ['q_2'],
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const waiting = (await waitFor<Map<string, number> | null>(async () => {
      const now = await scrape(apiOnly);
      return sample(now, 'tidings_queue_lag_seconds{lane="high"}') > 0 ? now : null;
    }, 'a lag on the high lane'))!;
    expect(waiting.get('tidings_queue_depth{lane="high"}')).toBe(1);
    expect(waiting.get('tidings_queue_depth{lane="normal"}')).toBe(0);
    expect(waiting.get('tidings_queue_lag_seconds{lane="normal"}')).toBe(0);
  });
});
