import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELIVER_CHUNK } from '../../src/pipeline/deps.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { queuedJobs } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// An event whose recipients resolve to nobody has no message to follow: it reads `completed`
// once all its work ran (API.md: accepted → processing → completed), and not before.

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const workflow = { channels: [{ channel: 'in_app', template: { title: 'Hello {{ data.n }}' } }] };
  expect((await server.call('PUT', '/v1/workflows/hello', workflow)).status).toBe(200);
  // A fallback that would fire long after the test: only its recipient's erasure ends the wait.
  const nudge = {
    channels: [
      { channel: 'in_app', template: { title: 'Hello {{ data.n }}' } },
      {
        channel: 'email',
        fallback: { after: '1h', unless: 'read' },
        template: { subject: 'Hi', text: 'Hi' },
      },
    ],
  };
  expect((await server.call('PUT', '/v1/workflows/nudge', nudge)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

async function trigger(body: Record<string, unknown>): Promise<string> {
  const res = await server.call('POST', '/v1/events', { workflow: 'hello', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.status).toBe('accepted');
  return res.body.eventId;
}

const view = async (eventId: string): Promise<Json> =>
  (await server.call('GET', `/v1/events/${eventId}`)).body;

const completed = (eventId: string, timeoutMs = 20_000): Promise<Json> =>
  waitFor(
    async () => {
      const event = await view(eventId);
      return event.status === 'completed' ? event : null;
    },
    `event ${eventId} to complete`,
    timeoutMs,
  );

async function erase(subscriberIds: string[]): Promise<void> {
  const answers = await Promise.all(
    subscriberIds.map((id) => server.call('DELETE', `/v1/subscribers/${id}`)),
  );
  expect(answers.map((a) => a.status)).toEqual(subscriberIds.map(() => 202));
}

describe('an event that reaches nobody completes once its work ran', () => {
  it('accepted together with others in one request (one first job for all of them)', async () => {
    expect((await server.call('PUT', '/v1/topics/empty-bulk', { name: 'empty' })).status).toBe(200);
    const res = await server.call('POST', '/v1/events/bulk', {
      events: [
        { workflow: 'hello', to: [{ topic: 'empty-bulk' }], data: { n: 1 } },
        { workflow: 'hello', to: ['bulk-live'], data: { n: 2 } },
        { workflow: 'hello', to: [{ topic: 'empty-bulk' }], data: { n: 3 } },
      ],
    });
    expect(res.status).toBe(202);
    const [empty, live, alsoEmpty] = res.body.results.map((r: Json) => r.eventId as string);
    expect((await completed(empty!)).messages).toEqual([]);
    expect((await completed(alsoEmpty!)).messages).toEqual([]);
    const delivered = await completed(live!);
    expect(delivered.messages.map((m: Json) => [m.subscriberId, m.status])).toEqual([
      ['bulk-live', 'delivered'],
    ]);
  });

  it('to a topic without subscribers', async () => {
    expect((await server.call('PUT', '/v1/topics/nobody', { name: 'nobody' })).status).toBe(200);
    const eventId = await trigger({ to: [{ topic: 'nobody' }], data: { n: 1 } });
    const event = await completed(eventId);
    expect(event.messages).toEqual([]);
    expect(event.skipped).toEqual([]);
  });

  it('with sendAt, to subscribers erased before it: accepted until sendAt, then completed; nobody erased gets anything', async () => {
    // One recipient (delivered in the fanout run itself), and more than a deliver job's page of
    // them (each page a deliver job of its own, all to be run before the event is complete).
    const many = Array.from({ length: DELIVER_CHUNK + 1 }, (_, i) => `gone_${i}`);
    // Room for 102 erasures and the checks on a loaded CI machine before sendAt comes.
    const sendAt = Date.now() + 10_000;
    const at = { sendAt: new Date(sendAt).toISOString() };
    const single = await trigger({ to: ['gone_one'], ...at, data: { n: 2 } });
    const paged = await trigger({ to: many, ...at, data: { n: 3 } });
    // A live recipient's event beside them: accepted until sendAt, then delivered as before.
    const live = await trigger({ to: ['alive'], ...at, data: { n: 4 } });
    await erase(['gone_one', ...many]);
    // Still before sendAt (else this test could not tell early from on time).
    expect(Date.now()).toBeLessThan(sendAt);
    for (const eventId of [single, paged, live]) {
      const before = await view(eventId);
      expect(before.status, eventId).toBe('accepted');
      expect(before.messages).toEqual([]);
    }
    const [one, all, delivered] = await Promise.all([single, paged, live].map((id) => completed(id, 30_000)));
    expect(Date.now()).toBeGreaterThanOrEqual(sendAt);
    expect(one.messages).toEqual([]);
    expect(all.messages).toEqual([]);
    expect(delivered.messages).toMatchObject([
      { subscriberId: 'alive', channel: 'in_app', status: 'delivered' },
    ]);
    for (const subscriberId of ['gone_one', 'gone_0', `gone_${DELIVER_CHUNK}`]) {
      const messages = await server.call('GET', `/v1/messages?subscriberId=${subscriberId}`);
      expect(messages.status).toBe(200);
      expect(messages.body.items, subscriberId).toEqual([]);
    }
  }, 60_000);

  it('not while a scheduled recipient’s local time has not come', async () => {
    // Twelve hours from now on the recipients' clocks (the tenant's zone, UTC: they have none):
    // each page of recipients waits in a scheduled deliver job of its own.
    const localTime = new Date(Date.now() + 12 * 3_600_000).toISOString().slice(11, 16);
    const many = Array.from({ length: DELIVER_CHUNK + 1 }, (_, i) => `later_${i}`);
    const events = [
      { eventId: await trigger({ to: ['later'], schedule: { localTime }, data: { n: 5 } }), pages: 1 },
      { eventId: await trigger({ to: many, schedule: { localTime }, data: { n: 6 } }), pages: 2 },
    ];
    for (const { eventId, pages } of events) {
      await waitFor(async () => {
        const jobs = await queuedJobs(server.databaseUrl, 'deliver');
        return (
          jobs.filter((job) => job.payload.eventId === eventId && job.payload.at !== undefined).length ===
          pages
        );
      }, `${pages} scheduled deliveries of ${eventId} to be queued`);
      const event = await view(eventId);
      expect(event.status, eventId).toBe('accepted');
      expect(event.messages).toEqual([]);
    }
  });
});

describe('an event with recipients', () => {
  it('goes from accepted to completed with its messages, as before', async () => {
    const eventId = await trigger({ to: ['present'], data: { n: 7 } });
    const event = await completed(eventId);
    expect(event.messages).toMatchObject([
      { subscriberId: 'present', channel: 'in_app', status: 'delivered' },
    ]);
  });

  it('reads processing while a fallback step waits, and completed once its recipient’s erasure drops it', async () => {
    const res = await server.call('POST', '/v1/events', {
      workflow: 'nudge',
      to: ['waiting'],
      data: { n: 8 },
    });
    expect(res.status).toBe(202);
    const { eventId } = res.body;
    // The in-app item is final when written; the email's timer, queued by that write, is not.
    const event = await waitFor(async () => {
      const read = await view(eventId);
      return read.messages.length > 0 ? read : null;
    }, 'the in-app item');
    expect(event.messages).toMatchObject([{ channel: 'in_app', status: 'delivered' }]);
    expect(event.status).toBe('processing');
    await erase(['waiting']);
    expect((await completed(eventId)).messages).toMatchObject([{ channel: 'in_app', status: 'delivered' }]);
  });
});
