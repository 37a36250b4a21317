import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let server: TestServer;
const OTHER_KEY = 'tdk_rate_other_tenant_key_000000';
const other = { auth: OTHER_KEY };

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('ten_rate_other', 'Other');
  await addTenantKey(server.tidings.store, 'ten_rate_other', OTHER_KEY, 'default');
});

afterAll(async () => {
  await server?.close();
});

/** In-app and email (the sandbox provider): two messages per recipient and event. */
async function putWorkflow(key: string, rateLimit: unknown, auth?: { auth: string }) {
  const put = await server.call(
    'PUT',
    `/v1/workflows/${key}`,
    {
      channels: [
        { channel: 'in_app', template: { title: 'News {{ data.n }}' } },
        { channel: 'email', template: { subject: 'News', text: 'News {{ data.n }}' } },
      ],
      ...(rateLimit === undefined ? {} : { rateLimit }),
    },
    auth,
  );
  expect(put.status).toBe(200);
}

/** `count` events of `workflow`, each to `to`, in one bulk request; answers their ids. */
async function bulk(
  workflow: string,
  to: string[],
  count: number,
  auth?: { auth: string },
): Promise<string[]> {
  const events = Array.from({ length: count }, (_, n) => ({
    workflow,
    to: to.map((subscriberId) => ({ subscriberId, email: `${subscriberId}@example.com` })),
    data: { n },
  }));
  const sent = await server.call('POST', '/v1/events/bulk', { events }, auth);
  expect(sent.status).toBe(202);
  return sent.body.results.map((r: Json) => r.eventId as string);
}

const limited = (messages: Json[]) => messages.filter((m) => m.status === 'rate_limited');
const through = (messages: Json[]) => messages.filter((m) => m.status !== 'rate_limited');

describe('workflow rate limits, through the public API', () => {
  it('10 events against 3 per hour per subscriber: 3 delivered on every channel, 7 rate_limited naming the layer', async () => {
    await putWorkflow('rl-sub', [{ per: 'subscriber', limit: 3, window: '1h' }]);
    const messages = await settledMessages(server, await bulk('rl-sub', ['rl_u1'], 10), 2);
    expect(through(messages)).toHaveLength(6);
    expect(limited(messages)).toHaveLength(14);
    // Counted per event, not per channel: an event goes out on both channels or on neither.
    const byEvent = new Map<string, Set<boolean>>();
    for (const m of messages) {
      byEvent.set(m.eventId, (byEvent.get(m.eventId) ?? new Set()).add(m.status === 'rate_limited'));
    }
    for (const limitedOrNot of byEvent.values()) expect(limitedOrNot.size).toBe(1);
    for (const m of limited(messages)) {
      expect(m.reason).toBe('rate_limited');
      expect(m.timeline.at(-1)).toMatchObject({
        status: 'rate_limited',
        detail: 'rate limit per subscriber: 3 per 1h',
      });
      expect(m.timeline.map((t: Json) => t.status)).not.toContain('queued');
    }
    // A rate-limited in-app message is no inbox item.
    const token = (await server.call('POST', '/v1/subscribers/rl_u1/token')).body.token;
    expect((await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items).toHaveLength(3);
    expect((await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count).toBe(
      3,
    );

    // Another subscriber of the workflow, and another workflow for the same subscriber, are not affected.
    expect(limited(await settledMessages(server, await bulk('rl-sub', ['rl_u2'], 2), 2))).toEqual([]);
    await putWorkflow('rl-unlimited', undefined);
    expect(limited(await settledMessages(server, await bulk('rl-unlimited', ['rl_u1'], 2), 2))).toEqual([]);
  });

  it('subscriber+channel counts each channel apart', async () => {
    await putWorkflow('rl-chan', [{ per: 'subscriber+channel', limit: 2, window: '1h' }]);
    const messages = await settledMessages(server, await bulk('rl-chan', ['rl_c1'], 3), 2);
    for (const channel of ['in_app', 'email']) {
      const mine = messages.filter((m) => m.channel === channel);
      expect(through(mine)).toHaveLength(2);
      expect(limited(mine)).toHaveLength(1);
      expect(limited(mine)[0].timeline.at(-1).detail).toBe('rate limit per subscriber+channel: 2 per 1h');
    }
  });

  it('tenant counts every recipient of the workflow, and another tenant keeps its own count', async () => {
    await putWorkflow('rl-tenant', [{ per: 'tenant', limit: 3, window: '1h' }]);
    const recipients = ['rl_t1', 'rl_t2', 'rl_t3', 'rl_t4', 'rl_t5'];
    const messages = await settledMessages(server, await bulk('rl-tenant', recipients, 1), 10);
    const reached = new Set(through(messages).map((m) => m.subscriberId));
    expect(reached.size).toBe(3);
    expect(through(messages)).toHaveLength(6);
    expect(limited(messages)).toHaveLength(4);
    expect(limited(messages)[0].timeline.at(-1).detail).toBe('rate limit per tenant: 3 per 1h');

    await putWorkflow('rl-tenant', [{ per: 'tenant', limit: 3, window: '1h' }], other);
    expect(
      limited(await settledMessages(server, await bulk('rl-tenant', ['rl_t1', 'rl_t2'], 1, other), 4, other)),
    ).toEqual([]);
  });

  it('two bulk requests at once never get past the limit', async () => {
    await putWorkflow('rl-race', [{ per: 'subscriber', limit: 3, window: '1h' }]);
    const [first, second] = await Promise.all([
      bulk('rl-race', ['rl_r1'], 10),
      bulk('rl-race', ['rl_r1'], 10),
    ]);
    const messages = await settledMessages(server, [...first!, ...second!], 2);
    expect(through(messages)).toHaveLength(6);
    expect(limited(messages)).toHaveLength(34);
  });

  it('refuses an unknown per, a zero or over-long window or a zero limit, naming the field, and stores nothing', async () => {
    for (const [rule, field] of [
      [{ per: 'user', limit: 3, window: '1h' }, 'rateLimit[0].per'],
      [{ per: 'subscriber', limit: 3, window: '0h' }, 'rateLimit[0].window'],
      [{ per: 'subscriber', limit: 0, window: '1h' }, 'rateLimit[0].limit'],
      // Past a year, or past what a counter's expiry can hold (a 10^20-day window failed every
      // delivery on PostgreSQL).
      [{ per: 'subscriber', limit: 1, window: '367d' }, 'rateLimit[0].window'],
      [{ per: 'subscriber', limit: 1, window: '99999999999999999999d' }, 'rateLimit[0].window'],
      [{ per: 'tenant', limit: 1, window: '9007199254740993ms' }, 'rateLimit[0].window'],
    ] as const) {
      const put = await server.call('PUT', '/v1/workflows/rl-bad', {
        channels: [{ channel: 'in_app', template: { title: 'x' } }],
        rateLimit: [rule],
      });
      expect(put.status).toBe(400);
      expect(put.body.error.details.map((d: Json) => d.path)).toContain(field);
    }
    expect((await server.call('GET', '/v1/workflows/rl-bad')).status).toBe(404);
    const yearly = await server.call('PUT', '/v1/workflows/rl-yearly', {
      channels: [{ channel: 'in_app', template: { title: 'x' } }],
      rateLimit: [{ per: 'subscriber', limit: 1, window: '366d' }],
    });
    expect(yearly.status).toBe(200);
  });
});
