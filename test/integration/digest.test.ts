import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { countRows } from '../helpers/store-under-test.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

/**
 * Digests end to end through the public API (API.md "Workflows"): the window opens at the first
 * event for (subscriber, workflow, rendered key), events meanwhile join it, and one message per
 * channel goes out at the close. Windows are 2 s; every test awaits the digest's messages.
 */

const WINDOW = '2s';
const WINDOW_MS = 2000;

/** In-app and email (no integration: the sandbox provider), both listing what they gathered. */
const gathering = {
  channels: [
    {
      channel: 'in_app',
      template: {
        title: '{{ count }} updates on {{ data.thread }}',
        body: '{% for e in events %}{{ e.n }}{% unless forloop.last %},{% endunless %}{% endfor %}',
      },
    },
    {
      channel: 'email',
      template: {
        subject: '{{ count }} updates',
        text: 'first {{ data.n }}; all {{ events | map: "n" | join: "," }}',
      },
    },
  ],
  digest: { window: WINDOW, key: '{{ data.thread }}' },
};

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  expect((await server.call('PUT', '/v1/workflows/thread-updates', gathering)).status).toBe(200);
  const perSubscriber = { ...gathering, digest: { window: WINDOW } };
  expect((await server.call('PUT', '/v1/workflows/all-updates', perSubscriber)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

async function trigger(subscriberId: string, data: Record<string, unknown>, extra: object = {}) {
  const response = await server.call('POST', '/v1/events', {
    workflow: 'thread-updates',
    to: [{ subscriberId, email: `${subscriberId}@example.com` }],
    data,
    ...extra,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body.eventId as string;
}

async function messagesOf(subscriberId: string): Promise<Json[]> {
  const response = await server.call('GET', `/v1/messages?subscriberId=${subscriberId}&limit=200`);
  expect(response.status).toBe(200);
  return response.body.items;
}

/** The subscriber's messages once there are `count` of them, none still queued or sending. */
async function settled(subscriberId: string, count: number, timeoutMs = 4 * WINDOW_MS): Promise<Json[]> {
  const items = await waitFor(
    async () => {
      const items = await messagesOf(subscriberId);
      return items.length === count && items.every((m) => !['queued', 'sending'].includes(m.status))
        ? items
        : null;
    },
    `${count} settled messages for ${subscriberId}`,
    timeoutMs,
  );
  return items!;
}

const byChannel = (messages: Json[], channel: string) => messages.filter((m) => m.channel === channel);

/** Waits until no digest is open or closing any more (its rows are deleted with its messages). */
const noDigestLeft = () =>
  waitFor(
    async () => (await countRows(server.databaseUrl, ['digests', 'digest_events'])).digests === 0,
    'every digest to be sent',
    4 * WINDOW_MS,
  );

describe('workflow digest settings', () => {
  const withDigest = (digest: unknown) => ({ channels: gathering.channels, digest });
  const paths = (body: Json): string[] => body.error.details.map((d: Json) => d.path);

  it.each([
    [{ window: '500ms' }, 'digest.window'],
    [{ window: '8d' }, 'digest.window'],
    [{ window: '0s' }, 'digest.window'],
    [{ window: 'soon' }, 'digest.window'],
    [{ window: '99999999999999999999d' }, 'digest.window'],
    [{ window: '10m', key: '{{ data.thread ' }, 'digest.key'],
    [{ window: '10m', key: '{% include "x" %}' }, 'digest.key'],
    [{ window: '10m', key: '' }, 'digest.key'],
    [{ window: '10m', every: '1h' }, 'digest.every'],
  ])('refuses %j with a 400 naming %s', async (digest, path) => {
    const response = await server.call('PUT', '/v1/workflows/bad-digest', withDigest(digest));
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
    expect(paths(response.body)).toContain(path);
  });

  it('keeps a window from 1s to 7d and the key, and shows them', async () => {
    for (const digest of [{ window: '1s' }, { window: '7d', key: '{{ data.thread | downcase }}' }]) {
      const response = await server.call('PUT', '/v1/workflows/good-digest', withDigest(digest));
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect((await server.call('GET', '/v1/workflows/good-digest')).body.digest).toEqual(digest);
    }
  });
});

describe('digests through the public API', () => {
  it('5 events with one key inside the window: one message per channel, saying 5, events oldest first', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4, 5]) ids.push(await trigger('dg_five', { thread: 't1', n }));
    const messages = await settled('dg_five', 2);
    const [inApp] = byChannel(messages, 'in_app');
    const [email] = byChannel(messages, 'email');
    expect(inApp.content).toEqual({ title: '5 updates on t1', body: '1,2,3,4,5' });
    expect(inApp.status).toBe('delivered');
    expect(email.content).toEqual({ subject: '5 updates', text: 'first 1; all 1,2,3,4,5' });
    expect(email.status).toBe('sent');
    // The messages belong to the first event; every event's view says it joined the digest.
    expect(new Set(messages.map((m) => m.eventId))).toEqual(new Set([ids[0]]));
    for (const [i, id] of ids.entries()) {
      const view = (await server.call('GET', `/v1/events/${id}`)).body;
      expect(view.skipped).toHaveLength(2);
      for (const skipped of view.skipped)
        expect(skipped.reason).toMatch(/^digest: gathered into the digest closing at \d{4}-.*Z$/);
      expect(view.messages).toHaveLength(i === 0 ? 2 : 0);
    }
    await noDigestLeft();
    // Still exactly one message per channel once everything is done.
    expect(await messagesOf('dg_five')).toHaveLength(2);
  });

  it("a bulk request's events, accepted in one millisecond, are gathered in the request's order", async () => {
    // Found by the API.md audit: events of one millisecond were ordered by the random part of
    // their ids, so `data` ("the first event's") and `events` ("oldest first") came out shuffled.
    const events = Array.from({ length: 40 }, (_, n) => ({
      workflow: 'thread-updates',
      to: [{ subscriberId: 'dg_bulk', email: 'dg_bulk@example.com' }],
      data: { thread: 'b', n },
    }));
    const bulk = await server.call('POST', '/v1/events/bulk', { events });
    expect(bulk.status).toBe(202);
    const messages = await settled('dg_bulk', 2);
    const order = events.map((event) => event.data.n);
    expect(byChannel(messages, 'in_app')[0].content.body).toBe(order.join(','));
    expect(byChannel(messages, 'email')[0].content.text).toBe(`first 0; all ${order.join(',')}`);
    expect(messages[0].eventId).toBe(bulk.body.results[0].eventId);
  });

  it('two keys make two digests; without a key, one digest per subscriber and workflow', async () => {
    for (const [thread, n] of [
      ['a', 1],
      ['b', 2],
      ['a', 3],
      ['b', 4],
      ['a', 5],
    ] as const)
      await trigger('dg_keys', { thread, n });
    for (const [thread, n] of [
      ['a', 1],
      ['b', 2],
    ] as const) {
      const response = await server.call('POST', '/v1/events', {
        workflow: 'all-updates',
        to: ['dg_keys'],
        data: { thread, n },
      });
      expect(response.status).toBe(202);
    }
    const titles = (await settled('dg_keys', 6))
      .filter((m) => m.channel === 'in_app')
      .map((m) => `${m.workflow}: ${m.content.title} (${m.content.body})`)
      .sort();
    expect(titles).toEqual([
      'all-updates: 2 updates on a (1,2)',
      'thread-updates: 2 updates on b (2,4)',
      'thread-updates: 3 updates on a (1,3,5)',
    ]);
  });

  it('a key that renders an object or array: different values make different digests, equal ones one', async () => {
    const objectKeys = {
      channels: [
        {
          channel: 'in_app',
          template: { title: '{{ count }}', body: '{{ events | map: "n" | join: "," }}' },
        },
      ],
      digest: { window: WINDOW, key: '{{ data.thread }}' },
    };
    expect((await server.call('PUT', '/v1/workflows/object-threads', objectKeys)).status).toBe(200);
    for (const [thread, n] of [
      [{ id: 1, org: 'a' }, 1],
      [{ id: 2, org: 'a' }, 2],
      // Equal to the first, its keys in another order.
      [{ org: 'a', id: 1 }, 3],
      // LiquidJS prints both arrays as "12".
      [[1, 2], 4],
      [[12], 5],
    ] as const) {
      const response = await server.call('POST', '/v1/events', {
        workflow: 'object-threads',
        to: ['dg_objects'],
        data: { thread, n },
      });
      expect(response.status).toBe(202);
    }
    const digests = (await settled('dg_objects', 4))
      .map((m) => `${m.content.title}: ${m.content.body}`)
      .sort();
    expect(digests).toEqual(['1: 2', '1: 4', '1: 5', '2: 1,3']);
    await noDigestLeft();
    expect(await messagesOf('dg_objects')).toHaveLength(4);
  });

  it('an event after the close opens a new window', async () => {
    await trigger('dg_next', { thread: 't', n: 1 });
    await trigger('dg_next', { thread: 't', n: 2 });
    await settled('dg_next', 2);
    await trigger('dg_next', { thread: 't', n: 3 });
    const messages = await settled('dg_next', 4);
    expect(
      byChannel(messages, 'in_app')
        .map((m) => m.content.body)
        .sort(),
    ).toEqual(['1,2', '3']);
  });

  it('a cancelled event is not counted; a window whose events are all cancelled sends nothing', async () => {
    const first = await trigger('dg_cancel', { thread: 't', n: 1 });
    const second = await trigger('dg_cancel', { thread: 't', n: 2 });
    await trigger('dg_cancel', { thread: 't', n: 3 });
    await trigger('dg_void', { thread: 't', n: 1 }, { cancellationKey: 'void-1' });
    await trigger('dg_void', { thread: 't', n: 2 }, { cancellationKey: 'void-1' });
    // Cancelled once they joined (their view says so), before the close.
    await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${second}`)).body;
      return view.skipped.length > 0;
    }, 'the event to join its digest');
    expect((await server.call('DELETE', `/v1/events/${second}`)).status).toBe(200);
    const cancelled = await server.call('DELETE', '/v1/events?cancellationKey=void-1');
    expect(cancelled.body.cancelledEvents).toBe(2);

    const messages = await settled('dg_cancel', 2);
    expect(byChannel(messages, 'in_app')[0].content).toEqual({ title: '2 updates on t', body: '1,3' });
    expect(messages.every((m) => m.eventId === first)).toBe(true);
    await noDigestLeft();
    expect(await messagesOf('dg_void')).toEqual([]);
  });

  it("policy applies at the close: an email opt-out made while the window was open suppresses the digest's email", async () => {
    const first = await trigger('dg_policy', { thread: 't', n: 1 });
    await trigger('dg_policy', { thread: 't', n: 2 });
    await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${first}`)).body;
      return view.skipped.length > 0;
    }, 'the event to join its digest');
    const patch = await server.call('PATCH', '/v1/subscribers/dg_policy/preferences', {
      channels: { email: false },
    });
    expect(patch.status).toBe(200);
    const messages = await settled('dg_policy', 2);
    expect(byChannel(messages, 'email')[0]).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    expect(byChannel(messages, 'in_app')[0]).toMatchObject({
      status: 'delivered',
      content: { title: '2 updates on t', body: '1,2' },
    });
  });

  it('the first event cancelled: the digest belongs to the oldest event left', async () => {
    const first = await trigger('dg_first', { thread: 't', n: 1 });
    const second = await trigger('dg_first', { thread: 't', n: 2 });
    await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${first}`)).body;
      return view.skipped.length > 0;
    }, 'the event to join its digest');
    expect((await server.call('DELETE', `/v1/events/${first}`)).status).toBe(200);
    const messages = await settled('dg_first', 2);
    expect(messages.every((m) => m.eventId === second)).toBe(true);
    expect(byChannel(messages, 'email')[0].content.text).toBe('first 2; all 2');
  });

  it('a fallback step after a digest sends once, rendering the digest, and the next events open a new window', async () => {
    const withFallback = {
      channels: [
        gathering.channels[0],
        { ...gathering.channels[1], fallback: { after: '1s', unless: 'read' } },
      ],
      digest: { window: WINDOW, key: '{{ data.thread }}' },
    };
    expect((await server.call('PUT', '/v1/workflows/thread-fallback', withFallback)).status).toBe(200);
    const send = async (n: number) => {
      const response = await server.call('POST', '/v1/events', {
        workflow: 'thread-fallback',
        to: [{ subscriberId: 'dg_fallback', email: 'dg_fallback@example.com' }],
        data: { thread: 't', n },
      });
      expect(response.status).toBe(202);
    };
    await send(1);
    await send(2);
    // The digest's inbox item, unread, then its email a second later, saying what the digest said.
    const first = await settled('dg_fallback', 2, 6 * WINDOW_MS);
    expect(byChannel(first, 'in_app')[0].content).toEqual({ title: '2 updates on t', body: '1,2' });
    expect(byChannel(first, 'in_app')[0].meta).toMatchObject({ digestCount: 2 });
    expect(byChannel(first, 'email')[0].content).toEqual({ subject: '2 updates', text: 'first 1; all 1,2' });
    await noDigestLeft();

    // A later event is not lost in a digest that never closes: it opens a window of its own.
    await send(3);
    const later = await settled('dg_fallback', 4, 6 * WINDOW_MS);
    const items = byChannel(later, 'in_app').map((m) => m.content.title);
    expect(items.sort()).toEqual(['1 updates on t', '2 updates on t']);
    await noDigestLeft();
    expect(await messagesOf('dg_fallback')).toHaveLength(4);
  });
});
