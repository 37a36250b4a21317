import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
const OTHER_KEY = 'tdk_other_tenant_key_0123456789';

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('tenant-b', 'B');
  await addTenantKey(server.tidings.store, 'tenant-b', OTHER_KEY, 'test');
});

afterAll(async () => {
  await server?.close();
});

// 3,000 × 3,000 iterations: seconds of CPU, far past any budget.
const NESTED = '{% for a in data.items %}{% for b in data.items %}{{ b }}{% endfor %}{% endfor %}';
const ITEMS = Array.from({ length: 3_000 }, (_, i) => i);
const RECIPIENTS = ['slow_1', 'slow_2', 'slow_3', 'slow_4', 'slow_5'];

const asB = { auth: OTHER_KEY };

async function inboxOf(subscriberId: string, auth?: string) {
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`, undefined, { auth })).body
    .token;
  return (await server.call('GET', '/v1/inbox?limit=100', undefined, { auth: token })).body.items as {
    id: string;
    title: string;
  }[];
}

async function unreadOf(subscriberId: string) {
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
  return (await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body
    .count as number;
}

/** The messages of an event once there are `count` of them and none is still on its way. */
async function settledMessages(eventId: string, count: number) {
  const event = await waitFor(async () => {
    const view = (await server.call('GET', `/v1/events/${eventId}`)).body;
    return view.messages?.length === count ? view : null;
  }, `${count} messages of ${eventId}`);
  return Promise.all(
    event.messages.map(
      async (m: { messageId: string }) => (await server.call('GET', `/v1/messages/${m.messageId}`)).body,
    ),
  );
}

async function trigger(workflow: string, to: string[], data: object, auth?: string) {
  const sent = await server.call('POST', '/v1/events', { workflow, to, data }, { auth });
  expect(sent.status).toBe(202);
  return sent.body.eventId as string;
}

describe("Finding 4: one tenant's template stalls every tenant", () => {
  it("fails A's slow renders with template_timeout without holding up B, and pauses A's workflow after 20 in a row", async () => {
    const slow = await server.call('PUT', '/v1/workflows/slow', {
      channels: [
        { channel: 'in_app', template: { title: 'Report', body: NESTED } },
        { channel: 'email', template: { subject: 'Report', html: `<p>${NESTED}</p>` } },
      ],
    });
    expect(slow.status).toBe(200);
    expect(slow.body).toMatchObject({ paused: false, pausedReason: null });
    const quick = await server.call(
      'PUT',
      '/v1/workflows/quick',
      { channels: [{ channel: 'in_app', template: { title: 'Hello {{ data.name }}' } }] },
      asB,
    );
    expect(quick.status).toBe(200);
    for (const id of RECIPIENTS)
      await server.call('PUT', `/v1/subscribers/${id}`, { email: `${id}@example.test` });

    // A's slow event first, B's right behind it: both may land in one worker batch.
    const first = await trigger('slow', RECIPIENTS, { items: ITEMS });
    const sentAt = Date.now();
    await trigger('quick', ['b_user'], { name: 'Bea' }, OTHER_KEY);
    await waitFor(async () => (await inboxOf('b_user', OTHER_KEY)).length === 1, "B's inbox item", 15_000);
    const delay = Date.now() - sentAt;
    // Before the fix: about 10 s (ten renders of 1 s each, on the one worker thread).
    expect(delay).toBeLessThan(1_500);

    const messages = await settledMessages(first, RECIPIENTS.length * 2);
    for (const message of messages) {
      expect(message).toMatchObject({ status: 'failed', reason: 'template_timeout', content: {} });
      expect(message.timeline.at(-1)).toEqual({
        at: expect.any(String),
        status: 'failed',
        detail: expect.stringMatching(/template render ran past its 50 ms budget/),
      });
    }
    expect((await server.call('GET', '/v1/workflows/slow')).body).toMatchObject({ paused: false });
    expect(await inboxOf('slow_1')).toEqual([]);
    expect(await unreadOf('slow_1')).toBe(0);

    // Ten more in a row: 20, and the workflow is paused with a reason.
    const second = await trigger('slow', RECIPIENTS, { items: ITEMS });
    const more = await settledMessages(second, RECIPIENTS.length * 2);
    expect(more.map((m) => m.reason)).toEqual(Array(10).fill('template_timeout'));
    const paused = await waitFor(async () => {
      const view = (await server.call('GET', '/v1/workflows/slow')).body;
      return view.paused ? view : null;
    }, 'the workflow paused');
    expect(paused.pausedReason).toMatch(/20 renders in a row ran past the 50 ms template budget/);
    expect((await server.call('GET', '/v1/workflows')).body.items).toContainEqual(
      expect.objectContaining({ key: 'slow', paused: true, pausedReason: paused.pausedReason }),
    );
    // Another tenant's workflow is untouched.
    expect((await server.call('GET', '/v1/workflows/quick', undefined, asB)).body).toMatchObject({
      paused: false,
      pausedReason: null,
    });

    // While paused, nothing renders and nothing is sent: messages are cancelled, in-app included.
    const third = await trigger('slow', RECIPIENTS, { items: ITEMS });
    const held = await settledMessages(third, RECIPIENTS.length * 2);
    for (const message of held)
      expect(message).toMatchObject({ status: 'cancelled', reason: 'workflow_paused', provider: null });
    expect(held[0].timeline.at(-1).detail).toBe(paused.pausedReason);

    // A new definition unpauses it.
    const fixed = await server.call('PUT', '/v1/workflows/slow', {
      channels: [{ channel: 'in_app', template: { title: 'Report', body: '{{ data.items | size }} items' } }],
    });
    expect(fixed.body).toMatchObject({ paused: false, pausedReason: null });
    const fourth = await trigger('slow', ['slow_1'], { items: ITEMS });
    const [ok] = await settledMessages(fourth, 1);
    expect(ok).toMatchObject({ status: 'delivered', content: { body: '3000 items' } });
  });
});

describe('Finding 4 (kill switch): "paused": true was accepted and ignored', () => {
  it('cancels every message of a paused workflow, in-app included, until a PUT unpauses it', async () => {
    const body = {
      channels: [
        { channel: 'in_app', template: { title: 'Sale {{ data.n }}' } },
        { channel: 'email', template: { subject: 'Sale', text: 'Sale {{ data.n }}' } },
      ],
    };
    const put = await server.call('PUT', '/v1/workflows/promo', { ...body, paused: true });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ paused: true, pausedReason: null });

    const held = await trigger('promo', ['kill_1'], { n: 1 });
    const messages = await settledMessages(held, 2);
    expect(messages.map((m) => [m.channel, m.status, m.reason]).sort()).toEqual([
      ['email', 'cancelled', 'workflow_paused'],
      ['in_app', 'cancelled', 'workflow_paused'],
    ]);
    for (const message of messages) {
      expect(message.content).toEqual({});
      expect(message.timeline.map((t: { status: string }) => t.status)).toEqual([
        'accepted',
        'routed',
        'cancelled',
      ]);
    }
    // Nothing reached the inbox: no item, nothing unread.
    expect(await inboxOf('kill_1')).toEqual([]);
    expect(await unreadOf('kill_1')).toBe(0);

    // A PUT that does not say paused unpauses it.
    expect((await server.call('PUT', '/v1/workflows/promo', body)).body).toMatchObject({ paused: false });
    const sent = await trigger('promo', ['kill_1'], { n: 2 });
    const delivered = await settledMessages(sent, 2);
    expect(delivered.find((m) => m.channel === 'in_app')).toMatchObject({
      status: 'delivered',
      content: { title: 'Sale 2' },
    });
    expect((await inboxOf('kill_1')).map((item) => item.title)).toEqual(['Sale 2']);
    expect(await unreadOf('kill_1')).toBe(1);
  });
});
