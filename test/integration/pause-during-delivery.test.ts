import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboxChange } from '../../src/inbox/feed.ts';
import { PAUSE_AFTER_TIMEOUTS, PAUSED_FOR_TIMEOUTS } from '../../src/templates/render-ledger.ts';
import { type JobRunner, jobRunner } from '../helpers/job-runner.ts';
import { racingStore } from '../helpers/racing-store.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * PUT /v1/workflows/{key} with "paused": true answered while a delivery of one of the workflow's
 * events was between its read of the workflow (live) and its write of the messages (a race sweep
 * found it): the kill switch holds for that delivery too — no inbox item, nothing queued to send.
 */

let server: TestServer;
let runner: JobRunner;

const definition = {
  channels: [
    { channel: 'in_app', template: { title: 'Order {{ data.n }}' } },
    { channel: 'email', template: { subject: 'Order', text: 'Order {{ data.n }}' } },
  ],
};

beforeAll(async () => {
  server = await startTestServer({}, ['api']);
  runner = jobRunner(server);
});

afterAll(async () => {
  await server?.close();
});

/** Runs the pipeline with `before` run once, just before the first delivery write. */
async function runWithBeforeWrite(before: () => Promise<void>): Promise<void> {
  const racing = racingStore(server.tidings.store, 'createMessages', before, { once: true });
  await runner.runOn(racing.store);
  expect(racing.ran()).toBe(1);
}

describe('a pause that lands while a delivery is being built', () => {
  it('stands: the delivery writes its messages cancelled (workflow_paused), no inbox item and no send', async () => {
    expect((await server.call('PUT', '/v1/workflows/order', definition)).status).toBe(200);
    await server.call('PUT', '/v1/subscribers/late_pause', { email: 'late-pause@example.com' });
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'order',
      to: ['late_pause'],
      data: { n: 1 },
    });
    expect(posted.status).toBe(202);
    const eventId: string = posted.body.eventId;
    const pushed: InboxChange[] = [];
    const unsubscribe = runner.deps.inboxFeed.subscribe('default', 'late_pause', (change) => {
      pushed.push(change as InboxChange);
    });

    // The delivery's write, with the pause answered just before it (after the delivery read the
    // workflow as live).
    try {
      await runWithBeforeWrite(async () => {
        const paused = await server.call('PUT', '/v1/workflows/order', { ...definition, paused: true });
        expect(paused.status).toBe(200);
      });
    } finally {
      unsubscribe();
    }

    const view = (await server.call('GET', `/v1/events/${eventId}`)).body;
    // Its delivery job is done: the refused write left nothing behind, the second one completed it.
    expect(view.status).toBe('completed');
    expect(view.messages.map((m: Json) => [m.channel, m.status, m.reason]).sort()).toEqual([
      ['email', 'cancelled', 'workflow_paused'],
      ['in_app', 'cancelled', 'workflow_paused'],
    ]);
    for (const message of view.messages) {
      // Cancelled by the delivery, as one that read the pause does: never rendered, queued or delivered.
      expect(message.timeline.map((e: Json) => `${e.status}: ${e.detail}`)).toEqual([
        `accepted: event ${eventId}`,
        `routed: workflow order v${view.workflowVersion}, ${message.channel}`,
        'cancelled: workflow paused (its definition says "paused": true)',
      ]);
    }
    expect(pushed).toEqual([]);
    const token = (await server.call('POST', '/v1/subscribers/late_pause/token')).body.token;
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items).toEqual([]);
  });

  it('stands when Tidings paused the workflow meanwhile (renders that kept timing out)', async () => {
    const put = await server.call('PUT', '/v1/workflows/order', definition);
    expect(put.status).toBe(200);
    await server.call('PUT', '/v1/subscribers/late_auto', { email: 'late-auto@example.com' });
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'order',
      to: ['late_auto'],
      data: { n: 2 },
    });
    expect(posted.status).toBe(202);
    const eventId: string = posted.body.eventId;
    const version: number = (await server.call('GET', '/v1/workflows/order')).body.version;

    // Another batch's renders of the workflow, written first, pause it.
    await runWithBeforeWrite(async () => {
      const paused = await server.tidings.store.countRenderTimeouts(
        'default',
        'order',
        version,
        { timeouts: PAUSE_AFTER_TIMEOUTS, afterSuccess: false },
        { at: PAUSE_AFTER_TIMEOUTS, reason: PAUSED_FOR_TIMEOUTS },
      );
      expect(paused?.pausedReason).toBe(PAUSED_FOR_TIMEOUTS);
    });

    const view = (await server.call('GET', `/v1/events/${eventId}`)).body;
    expect(view.messages.map((m: Json) => [m.channel, m.status, m.reason]).sort()).toEqual([
      ['email', 'cancelled', 'workflow_paused'],
      ['in_app', 'cancelled', 'workflow_paused'],
    ]);
    for (const message of view.messages)
      expect(message.timeline.at(-1)).toMatchObject({ status: 'cancelled', detail: PAUSED_FOR_TIMEOUTS });
    const token = (await server.call('POST', '/v1/subscribers/late_auto/token')).body.token;
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items).toEqual([]);
  });
});
