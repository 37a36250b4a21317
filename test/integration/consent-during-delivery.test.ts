import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboxChange } from '../../src/inbox/feed.ts';
import { type JobRunner, jobRunner } from '../helpers/job-runner.ts';
import { racingStore } from '../helpers/racing-store.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * Guarantee 7 for the in-app item, which its delivery's write delivers: an opt-out PATCH that
 * answered while the delivery was between its read of the recipients' choices and its write
 * holds for that delivery too. One about someone else costs the delivery no second build.
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
  expect((await server.call('PUT', '/v1/workflows/order', definition)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

/**
 * Runs the pipeline with `before` run once, just before the first delivery write; answers how
 * many times the deliveries read their recipients (once per build).
 */
async function runWithBeforeWrite(before: () => Promise<void>): Promise<number> {
  let builds = 0;
  const countBuilds = async () => {
    builds++;
  };
  const reads = racingStore(server.tidings.store, 'getSubscribers', countBuilds);
  const racing = racingStore(reads.store, 'createMessages', before, { once: true });
  await runner.runOn(racing.store);
  expect(racing.ran()).toBe(1);
  return builds;
}

async function accepted(subscriberId: string): Promise<string> {
  await server.call('PUT', `/v1/subscribers/${subscriberId}`, { email: `${subscriberId}@example.com` });
  const posted = await server.call('POST', '/v1/events', {
    workflow: 'order',
    to: [subscriberId],
    data: { n: 1 },
  });
  expect(posted.status).toBe(202);
  return posted.body.eventId;
}

const inbox = async (subscriberId: string) => {
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
  return (await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items;
};

describe('an opt-out that answers while a delivery is being built', () => {
  it('holds: the in-app item is suppressed (opted_out), never in the inbox nor pushed to a stream', async () => {
    const eventId = await accepted('late_optout');
    const pushed: InboxChange[] = [];
    const unsubscribe = runner.deps.inboxFeed.subscribe('default', 'late_optout', (change) => {
      pushed.push(change as InboxChange);
    });
    try {
      const builds = await runWithBeforeWrite(async () => {
        const patched = await server.call('PATCH', '/v1/subscribers/late_optout/preferences', {
          channels: { in_app: false },
        });
        expect(patched.status).toBe(200);
      });
      // Built again with the choice as it is now.
      expect(builds).toBe(2);
    } finally {
      unsubscribe();
    }
    const view = (await server.call('GET', `/v1/events/${eventId}`)).body;
    const inApp = view.messages.find((m: Json) => m.channel === 'in_app');
    expect([inApp.status, inApp.reason]).toEqual(['suppressed', 'opted_out']);
    // The email was not opted out of: it goes as usual (the sandbox takes it).
    expect(view.messages.find((m: Json) => m.channel === 'email').status).toBe('sent');
    expect(pushed).toEqual([]);
    expect(await inbox('late_optout')).toEqual([]);
  });

  it("is built again without counting the delivery's other recipients against rate limits twice", async () => {
    const limited = { ...definition, rateLimit: [{ per: 'subscriber', limit: 1, window: '1h' }] };
    expect((await server.call('PUT', '/v1/workflows/limited', limited)).status).toBe(200);
    for (const id of ['rl_leaves', 'rl_stays'])
      await server.call('PUT', `/v1/subscribers/${id}`, { email: `${id}@example.com` });
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'limited',
      to: ['rl_leaves', 'rl_stays'],
      data: { n: 3 },
    });
    expect(posted.status).toBe(202);
    const builds = await runWithBeforeWrite(async () => {
      const patched = await server.call('PATCH', '/v1/subscribers/rl_leaves/preferences', {
        channels: { in_app: false },
      });
      expect(patched.status).toBe(200);
    });
    expect(builds).toBe(2);
    const view = (await server.call('GET', `/v1/events/${posted.body.eventId}`)).body;
    const statusOf = (subscriberId: string, channel: string) =>
      view.messages.find((m: Json) => m.subscriberId === subscriberId && m.channel === channel).status;
    // One notification each, within the limit of 1: counted once, by the first build.
    expect(statusOf('rl_stays', 'in_app')).toBe('delivered');
    expect(statusOf('rl_stays', 'email')).toBe('sent');
    expect(statusOf('rl_leaves', 'in_app')).toBe('suppressed');
    expect(statusOf('rl_leaves', 'email')).toBe('sent');
  });

  it("about another subscriber, costs nothing: the item is delivered from the delivery's one build", async () => {
    const eventId = await accepted('on_time');
    await server.call('PUT', '/v1/subscribers/bystander', {});
    const builds = await runWithBeforeWrite(async () => {
      const patched = await server.call('PATCH', '/v1/subscribers/bystander/preferences', {
        channels: { in_app: false },
      });
      expect(patched.status).toBe(200);
    });
    expect(builds).toBe(1);
    const view = (await server.call('GET', `/v1/events/${eventId}`)).body;
    expect(view.messages.find((m: Json) => m.channel === 'in_app').status).toBe('delivered');
    expect((await inbox('on_time')).map((item: Json) => item.title)).toEqual(['Order 1']);
  });
});
