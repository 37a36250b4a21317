import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let server: TestServer;
const OTHER_KEY = 'tdk_daily_cap_other_tenant_key_0';
const other = { auth: OTHER_KEY };
const CAP_DETAIL = 'daily cap per subscriber: 2 per day';

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('ten_cap_other', 'Other');
  await addTenantKey(server.tidings.store, 'ten_cap_other', OTHER_KEY, 'default');
  // The default tenant caps every subscriber at 2 a day; the other tenant has no cap.
  expect((await server.call('PATCH', '/v1/settings', { dailyCap: { perSubscriber: 2 } })).status).toBe(200);
  for (const [key, category] of [
    ['cap-news', 'marketing'],
    ['cap-digest', undefined],
    ['cap-alert', 'security'],
    ['cap-receipt', 'transactional'],
  ] as const) {
    await putWorkflow(key, category);
    await putWorkflow(key, category, other);
  }
});

afterAll(async () => {
  await server?.close();
});

/** In-app and email (the sandbox provider): two messages per recipient and event. */
async function putWorkflow(key: string, category: string | undefined, auth?: { auth: string }) {
  const put = await server.call(
    'PUT',
    `/v1/workflows/${key}`,
    {
      ...(category === undefined ? {} : { category }),
      channels: [
        { channel: 'in_app', template: { title: 'News {{ data.n }}' } },
        { channel: 'email', template: { subject: 'News', text: 'News {{ data.n }}' } },
      ],
    },
    auth,
  );
  expect(put.status).toBe(200);
}

/** One event of `workflow` to `subscriberId`, sent alone (in order with the others); answers its id. */
async function send(workflow: string, subscriberId: string, auth?: { auth: string }): Promise<string> {
  const sent = await server.call(
    'POST',
    '/v1/events',
    { workflow, to: [{ subscriberId, email: `${subscriberId}@example.com` }], data: { n: 1 } },
    auth,
  );
  expect(sent.status).toBe(202);
  const eventId = sent.body.eventId as string;
  // Each event settles before the next is sent, so which one the cap holds back is known.
  await settledMessages(server, [eventId], 2, auth);
  return eventId;
}

/** The messages of these events (two channels each) once settled. */
const settled = (ids: string[], auth?: { auth: string }) => settledMessages(server, ids, 2, auth);
const limited = (messages: Json[]) => messages.filter((m) => m.status === 'rate_limited');

describe('daily cap per subscriber, through the public API', () => {
  it('cap 2: of 3 events of two workflows, 2 go out on every channel and the third is rate_limited naming the cap', async () => {
    const ids = [await send('cap-news', 'cap_u1'), await send('cap-digest', 'cap_u1')];
    const third = await send('cap-news', 'cap_u1');
    expect(limited(await settledMessages(server, ids, 2))).toEqual([]);
    const held = await settledMessages(server, [third], 2);
    expect(held.map((m) => m.status)).toEqual(['rate_limited', 'rate_limited']);
    for (const m of held) {
      expect(m.reason).toBe('rate_limited');
      expect(m.timeline.at(-1)).toMatchObject({ status: 'rate_limited', detail: CAP_DETAIL });
      expect(m.timeline.map((t: Json) => t.status)).not.toContain('queued');
    }
    // Nothing of the third event reached the inbox.
    const token = (await server.call('POST', '/v1/subscribers/cap_u1/token')).body.token;
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items).toHaveLength(2);
  });

  it('leaves another subscriber, and the same subscriber id in another tenant, their own count', async () => {
    await send('cap-news', 'cap_u2');
    await send('cap-news', 'cap_u2');
    expect(limited(await settled([await send('cap-news', 'cap_u2')]))).toHaveLength(2);
    // cap_u2 is full: cap_u3 is not.
    const theirs = [await send('cap-news', 'cap_u3'), await send('cap-digest', 'cap_u3')];
    expect(limited(await settledMessages(server, theirs, 2))).toEqual([]);
    // The other tenant has no cap.
    const elsewhere = [];
    for (let n = 0; n < 3; n++) elsewhere.push(await send('cap-news', 'cap_u2', other));
    expect(limited(await settled(elsewhere, other))).toEqual([]);
  });

  it('exempts security and transactional workflows: they go out past the cap and do not count', async () => {
    // Past the cap, mandatory categories still go out.
    await send('cap-news', 'cap_u4');
    await send('cap-news', 'cap_u4');
    expect(limited(await settled([await send('cap-news', 'cap_u4')]))).toHaveLength(2);
    const mandatory = [];
    for (const workflow of ['cap-alert', 'cap-receipt', 'cap-alert'])
      mandatory.push(await send(workflow, 'cap_u4'));
    const sent = await settledMessages(server, mandatory, 2);
    expect(limited(sent)).toEqual([]);
    expect(sent.every((m) => ['delivered', 'sent'].includes(m.status))).toBe(true);

    // And they are not counted: after three of them, a fresh subscriber still gets two others.
    for (const workflow of ['cap-alert', 'cap-receipt', 'cap-alert']) await send(workflow, 'cap_u5');
    const counted = [await send('cap-news', 'cap_u5'), await send('cap-digest', 'cap_u5')];
    expect(limited(await settledMessages(server, counted, 2))).toEqual([]);
    expect(limited(await settled([await send('cap-news', 'cap_u5')]))).toHaveLength(2);
  });
});

describe('daily cap beside workflow rate limits', () => {
  it('counts only what goes out: a message a workflow limit held back does not use up the cap', async () => {
    const put = await server.call('PUT', '/v1/workflows/cap-limited', {
      rateLimit: [{ per: 'subscriber', limit: 1, window: '1h' }],
      channels: [
        { channel: 'in_app', template: { title: 'News {{ data.n }}' } },
        { channel: 'email', template: { subject: 'News', text: 'News {{ data.n }}' } },
      ],
    });
    expect(put.status).toBe(200);
    expect(limited(await settled([await send('cap-limited', 'cap_u6')]))).toEqual([]);
    const second = limited(await settled([await send('cap-limited', 'cap_u6')]));
    expect(second).toHaveLength(2);
    expect(second[0].timeline.at(-1).detail).toBe('rate limit per subscriber: 1 per 1h');
    // One notification went out so far: one more fits under the cap of 2, then the cap holds.
    expect(limited(await settled([await send('cap-news', 'cap_u6')]))).toEqual([]);
    const capped = limited(await settled([await send('cap-news', 'cap_u6')]));
    expect(capped).toHaveLength(2);
    expect(capped[0].timeline.at(-1).detail).toBe(CAP_DETAIL);
  });

  it('two bulk requests at once never get past the cap', async () => {
    const bulk = async (workflow: string) => {
      const events = Array.from({ length: 5 }, (_, n) => ({
        workflow,
        to: [{ subscriberId: 'cap_r1', email: 'cap_r1@example.com' }],
        data: { n },
      }));
      const sent = await server.call('POST', '/v1/events/bulk', { events });
      expect(sent.status).toBe(202);
      return sent.body.results.map((r: Json) => r.eventId as string) as string[];
    };
    const [first, second] = await Promise.all([bulk('cap-news'), bulk('cap-digest')]);
    const messages = await settled([...first!, ...second!]);
    expect(messages.filter((m) => m.status !== 'rate_limited')).toHaveLength(4);
    expect(limited(messages)).toHaveLength(16);
  });
});

describe('dailyCap in the tenant settings', () => {
  it('round-trips: null by default, set, kept by another patch, removed with null', async () => {
    const before = await server.call('GET', '/v1/settings', undefined, other);
    expect(before.body).toEqual({ defaultTimezone: 'UTC', dailyCap: null, inboxTabs: {} });
    const set = await server.call('PATCH', '/v1/settings', { dailyCap: { perSubscriber: 20 } }, other);
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ defaultTimezone: 'UTC', dailyCap: { perSubscriber: 20 }, inboxTabs: {} });
    await server.call('PATCH', '/v1/settings', { defaultTimezone: 'Asia/Tokyo' }, other);
    expect((await server.call('GET', '/v1/settings', undefined, other)).body).toEqual({
      defaultTimezone: 'Asia/Tokyo',
      dailyCap: { perSubscriber: 20 },
      inboxTabs: {},
    });
    const removed = await server.call('PATCH', '/v1/settings', { dailyCap: null }, other);
    expect(removed.body).toEqual({ defaultTimezone: 'Asia/Tokyo', dailyCap: null, inboxTabs: {} });
    expect((await server.call('GET', '/v1/settings', undefined, other)).body.dailyCap).toBeNull();
    await server.call('PATCH', '/v1/settings', { defaultTimezone: 'UTC' }, other);
  });

  it.each([
    [{ perSubscriber: 0 }, 'dailyCap.perSubscriber'],
    [{ perSubscriber: 100_001 }, 'dailyCap.perSubscriber'],
    [{ perSubscriber: 2.5 }, 'dailyCap.perSubscriber'],
    [{ perSubscriber: '20' }, 'dailyCap.perSubscriber'],
    [{}, 'dailyCap.perSubscriber'],
    [{ perSubscriber: 20, perTenant: 5 }, 'dailyCap.perTenant'],
    [20, 'dailyCap'],
    [[20], 'dailyCap'],
  ])('answers 400 naming the field for dailyCap %j, changing nothing', async (dailyCap, path) => {
    const refused = await server.call('PATCH', '/v1/settings', { defaultTimezone: 'Asia/Tokyo', dailyCap });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('validation_failed');
    expect(refused.body.error.details.map((d: Json) => d.path)).toContain(path);
    expect((await server.call('GET', '/v1/settings')).body).toEqual({
      defaultTimezone: 'UTC',
      dailyCap: { perSubscriber: 2 },
      inboxTabs: {},
    });
  });

  it('accepts the bounds 1 and 100000', async () => {
    for (const perSubscriber of [1, 100_000]) {
      const set = await server.call('PATCH', '/v1/settings', { dailyCap: { perSubscriber } }, other);
      expect(set.status).toBe(200);
      expect(set.body.dailyCap).toEqual({ perSubscriber });
    }
    await server.call('PATCH', '/v1/settings', { dailyCap: null }, other);
  });
});
