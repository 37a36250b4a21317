import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobRunner, jobRunner } from '../helpers/job-runner.ts';
import { racingStore } from '../helpers/racing-store.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * DELETE /v1/events/{id} answered while a delivery of the event was between its read of the event
 * and its write of the messages (a race sweep saw it 5 times in 30 on SQLite, 15 on PostgreSQL):
 * the in-app item must not be written after the cancel, nor anything sent.
 */

let server: TestServer;
let runner: JobRunner;

beforeAll(async () => {
  server = await startTestServer({}, ['api']);
  runner = jobRunner(server);
  const put = await server.call('PUT', '/v1/workflows/order', {
    channels: [
      { channel: 'in_app', template: { title: 'Order {{ data.n }}' } },
      { channel: 'email', template: { subject: 'Order', text: 'Order {{ data.n }}' } },
    ],
  });
  expect(put.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

describe('a cancel that lands while a delivery is being built', () => {
  it('stands: the delivery writes nothing for the cancelled event', async () => {
    await server.call('PUT', '/v1/subscribers/late_cancel', { email: 'late@example.com' });
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'order',
      to: ['late_cancel'],
      data: { n: 1 },
    });
    expect(posted.status).toBe(202);
    const eventId: string = posted.body.eventId;

    // The delivery's write, with the cancel answered just before it (after the delivery read
    // the event as live).
    const cancels: number[] = [];
    const racing = racingStore(server.tidings.store, 'createMessages', async () => {
      const cancelled = await server.call('DELETE', `/v1/events/${eventId}`);
      cancels.push(cancelled.status);
    });
    await runner.runOn(racing.store);
    expect(cancels.length).toBeGreaterThan(0);
    expect(cancels.every((status) => status === 200)).toBe(true);

    const view = (await server.call('GET', `/v1/events/${eventId}`)).body;
    expect(view.status).toBe('cancelled');
    expect(view.messages.filter((m: Json) => m.status !== 'cancelled')).toEqual([]);
    const token = (await server.call('POST', '/v1/subscribers/late_cancel/token')).body.token;
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items).toEqual([]);
  });
});
