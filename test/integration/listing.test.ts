import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { MAX_SUBSCRIBER_DATA_BYTES } from '../../src/ingest/subscriber-data.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: views are read field by field and checked by assertions
type Json = any;

let server: TestServer;
const OTHER_KEY = 'tdk_listing_other_tenant_key_000';
const other = { auth: OTHER_KEY };

const inAppAndEmail = {
  channels: [
    { channel: 'in_app', template: { title: 'Hi {{ data.n }}' } },
    { channel: 'email', template: { subject: 'Hi', text: 'Hi {{ data.n }}' } },
  ],
};

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('ten_listing_other', 'Other');
  await addTenantKey(server.tidings.store, 'ten_listing_other', OTHER_KEY, 'default');
});

afterAll(async () => {
  await server?.close();
});

/** Every item of a list, following nextCursor page by page; also answers how many pages it took. */
async function walk(route: string, limit: number, auth?: { auth: string }) {
  const items: Json[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const join = route.includes('?') ? '&' : '?';
    const query: string = `${join}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await server.call('GET', `${route}${query}`, undefined, auth);
    expect(page.status).toBe(200);
    expect(Object.keys(page.body).sort()).toEqual(['items', 'nextCursor']);
    items.push(...page.body.items);
    cursor = page.body.nextCursor;
    pages++;
  } while (cursor !== null && pages < 50);
  return { items, pages };
}

describe('listing', () => {
  it('pages subscribers with opaque cursors, within the tenant, refusing a bad cursor or limit', async () => {
    for (const id of ['ls_c', 'ls_a', 'ls_e', 'ls_b', 'ls_d'])
      expect((await server.call('PUT', `/v1/subscribers/${id}`, { email: `${id}@example.com` })).status).toBe(
        200,
      );
    await server.call('PUT', '/v1/subscribers/ls_theirs', {}, other);
    const { items, pages } = await walk('/v1/subscribers', 2);
    const mine = items.map((s) => s.subscriberId).filter((id: string) => id.startsWith('ls_'));
    expect(mine).toEqual(['ls_a', 'ls_b', 'ls_c', 'ls_d', 'ls_e']);
    expect(items.find((s) => s.subscriberId === 'ls_a')).toMatchObject({ email: 'ls_a@example.com' });
    expect(pages).toBe(Math.ceil(items.length / 2));
    expect((await walk('/v1/subscribers', 50, other)).items.map((s) => s.subscriberId)).toEqual([
      'ls_theirs',
    ]);

    for (const cursor of ['not-a-cursor!!', Buffer.from('a\u0000b').toString('base64url')]) {
      const bad = await server.call('GET', `/v1/subscribers?cursor=${encodeURIComponent(cursor)}`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.map((d: Json) => d.path)).toEqual(['cursor']);
    }
    for (const limit of ['0', '201', 'many']) {
      const bad = await server.call('GET', `/v1/subscribers?limit=${limit}`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].path).toBe('limit');
    }
  });

  it('lists workflows and topics; pages a topic’s subscribers', async () => {
    for (const key of ['wf_b', 'wf_a', 'wf_c'])
      expect((await server.call('PUT', `/v1/workflows/${key}`, inAppAndEmail)).status).toBe(200);
    const workflows = await walk('/v1/workflows', 2);
    const keys = workflows.items.map((w) => w.key).filter((k: string) => k.startsWith('wf_'));
    expect(keys).toEqual(['wf_a', 'wf_b', 'wf_c']);
    expect(workflows.items.find((w) => w.key === 'wf_a')).toMatchObject({ version: 1, paused: false });
    expect((await walk('/v1/workflows', 10, other)).items).toEqual([]);

    for (const key of ['tp_two', 'tp_one'])
      expect((await server.call('PUT', `/v1/topics/${key}`, { name: key })).status).toBe(200);
    const members = ['tm_1', 'tm_2', 'tm_3', 'tm_4', 'tm_5'];
    await server.call('POST', '/v1/topics/tp_one/subscribers', { subscriberIds: [...members].reverse() });
    await server.call('PUT', '/v1/subscribers/tm_2', { locale: 'fr' });
    const topics = await walk('/v1/topics', 1);
    expect(topics.items.filter((t) => t.key.startsWith('tp_'))).toEqual([
      { key: 'tp_one', name: 'tp_one', createdAt: expect.any(String), subscriberCount: 5 },
      { key: 'tp_two', name: 'tp_two', createdAt: expect.any(String), subscriberCount: 0 },
    ]);
    const page = await walk('/v1/topics/tp_one/subscribers', 2);
    expect(page.items.map((s) => s.subscriberId)).toEqual(members);
    expect(page.pages).toBe(3);
    expect(page.items[1]).toMatchObject({ subscriberId: 'tm_2', locale: 'fr' });
    // Another tenant sees neither the topic nor its members.
    expect((await server.call('GET', '/v1/topics/tp_one/subscribers', undefined, other)).status).toBe(404);
    expect((await walk('/v1/topics', 10, other)).items).toEqual([]);
  });

  it('takes back every cursor it issues, after ids of 100 characters of 3 UTF-8 bytes each', async () => {
    // 300 bytes of id: the cursor after it is ~400 characters.
    const long = (c: string) => c.repeat(100);
    const ids = ['あ', 'い', 'う'].map(long);
    for (const id of ids)
      expect((await server.call('PUT', `/v1/subscribers/${encodeURIComponent(id)}`, {})).status).toBe(200);
    await server.call('PUT', '/v1/topics/tp_long', { name: 'long ids' });
    await server.call('POST', '/v1/topics/tp_long/subscribers', { subscriberIds: ids });
    const members = await walk('/v1/topics/tp_long/subscribers', 1);
    expect(members.items.map((s) => s.subscriberId)).toEqual(ids);
    for (const key of ids.map((id) => `wf_${id.slice(3)}`))
      expect(
        (await server.call('PUT', `/v1/workflows/${encodeURIComponent(key)}`, inAppAndEmail)).status,
      ).toBe(200);
    const workflows = await walk('/v1/workflows', 1);
    expect(workflows.items.filter((w) => w.key.length === 100)).toHaveLength(3);
  });

  it('answers how many memberships a topic POST added: an id named twice once, a member again not at all', async () => {
    expect((await server.call('PUT', '/v1/topics/tp_count')).status).toBe(200);
    const add = (subscriberIds: string[]) =>
      server.call('POST', '/v1/topics/tp_count/subscribers', { subscriberIds });
    expect((await add(['tc_1', 'tc_2', 'tc_1'])).body).toEqual({
      key: 'tp_count',
      added: 2,
      subscriberCount: 2,
    });
    expect((await add(['tc_2', 'tc_3'])).body).toEqual({ key: 'tp_count', added: 1, subscriberCount: 3 });
    expect((await add(['tc_3'])).body).toEqual({ key: 'tp_count', added: 0, subscriberCount: 3 });
  });
});

describe('cursors', () => {
  /** Not cursors, cursors of another list, and a bare id where the old tenant list took one. */
  const forged = (text: string) => Buffer.from(text).toString('base64url');
  const notIssued = [
    'garbage',
    forged('evt_x'),
    forged('k1\u0000msg_x'),
    forged('m1\u0000msg_x\u0000more'),
    `${forged('m1\u0000msg_x')}=`,
  ];

  async function expectRefused(route: string, auth?: { auth: string }) {
    for (const cursor of notIssued) {
      const join = route.includes('?') ? '&' : '?';
      const answer = await server.call(
        'GET',
        `${route}${join}cursor=${encodeURIComponent(cursor)}`,
        undefined,
        auth,
      );
      expect(answer.status, `${route} with cursor ${cursor}`).toBe(400);
      expect(answer.body.error.code).toBe('validation_failed');
      expect(answer.body.error.details.map((d: Json) => d.path)).toEqual(['cursor']);
    }
  }

  it('pages messages and dead letters with the cursors they issue, and refuses any other (400 naming cursor)', async () => {
    const ids = ['msg_cur_1', 'msg_cur_2', 'msg_cur_3', 'msg_cur_4', 'msg_cur_5'];
    await server.tidings.store.createMessages(
      ids.map((id, i) => ({
        record: messageRecord({
          tenantId: 'ten_listing_other',
          id,
          channel: 'webhook',
          provider: 'hook',
          status: i % 2 === 0 ? 'dead' : 'sent',
        }),
        followUp: null,
      })),
    );
    const newestFirst = [...ids].reverse();
    const messages = await walk('/v1/messages', 2, other);
    expect(messages.items.map((m) => m.messageId)).toEqual(newestFirst);
    expect(messages.pages).toBe(3);
    // A page that ends the list exactly gives no cursor to an empty page.
    const exact = await server.call('GET', '/v1/messages?limit=5', undefined, other);
    expect(exact.body.items).toHaveLength(5);
    expect(exact.body.nextCursor).toBeNull();
    // A cursor issued before cursors were tagged (the message id alone) still pages on.
    const legacy = Buffer.from('msg_cur_4').toString('base64url');
    const below = await server.call('GET', `/v1/messages?limit=2&cursor=${legacy}`, undefined, other);
    expect(below.status).toBe(200);
    expect(below.body.items.map((m: Json) => m.messageId)).toEqual(['msg_cur_3', 'msg_cur_2']);
    const filtered = await walk('/v1/messages?status=sent', 1, other);
    expect(filtered.items.map((m) => m.messageId)).toEqual(['msg_cur_4', 'msg_cur_2']);
    const dead = await walk('/v1/dead-letters', 2, other);
    expect(dead.items.map((m) => m.messageId)).toEqual(['msg_cur_5', 'msg_cur_3', 'msg_cur_1']);
    expect(dead.pages).toBe(2);

    await expectRefused('/v1/messages', other);
    await expectRefused('/v1/messages?status=sent', other);
    await expectRefused('/v1/dead-letters', other);
    // Another list's cursor, valid there, is not one here (and a message cursor is not a subscriber one).
    await server.call('PUT', '/v1/subscribers/cur_a', {}, other);
    await server.call('PUT', '/v1/subscribers/cur_b', {}, other);
    const subscribers = await server.call('GET', '/v1/subscribers?limit=1', undefined, other);
    const messagePage = await server.call('GET', '/v1/messages?limit=1', undefined, other);
    for (const [route, cursor] of [
      ['/v1/messages', subscribers.body.nextCursor],
      ['/v1/dead-letters', subscribers.body.nextCursor],
      ['/v1/subscribers', messagePage.body.nextCursor],
    ] as const) {
      const answer = await server.call(
        'GET',
        `${route}?cursor=${encodeURIComponent(cursor)}`,
        undefined,
        other,
      );
      expect(answer.status, route).toBe(400);
      expect(answer.body.error.details[0].path).toBe('cursor');
    }
  });

  const onePageLists = [
    '/v1/integrations',
    '/v1/webhook-endpoints',
    '/v1/subscribers/cur_devices/devices',
    '/v1/subscribers/cur_devices/consent-log',
  ];

  it("refuses one key-sorted list's cursor on another (subscribers, topics, members, workflows)", async () => {
    for (const id of ['cx_1', 'cx_2']) await server.call('PUT', `/v1/subscribers/${id}`, {});
    for (const key of ['cx_topic', 'cx_topic_2'])
      await server.call('PUT', `/v1/topics/${key}`, { name: 'cx' });
    await server.call('POST', '/v1/topics/cx_topic/subscribers', { subscriberIds: ['cx_1', 'cx_2'] });
    for (const key of ['cx_wf_1', 'cx_wf_2']) await server.call('PUT', `/v1/workflows/${key}`, inAppAndEmail);
    const lists = ['/v1/subscribers', '/v1/topics', '/v1/topics/cx_topic/subscribers', '/v1/workflows'];
    for (const from of lists) {
      const cursor = (await server.call('GET', `${from}?limit=1`)).body.nextCursor;
      expect(cursor, from).toEqual(expect.any(String));
      for (const to of lists.filter((route) => route !== from)) {
        const answer = await server.call('GET', `${to}?cursor=${encodeURIComponent(cursor)}`);
        expect(answer.status, `${from} cursor on ${to}`).toBe(400);
        expect(answer.body.error.details.map((d: Json) => d.path)).toEqual(['cursor']);
      }
    }
  });

  it('refuses any cursor on the lists that are always one page: integrations, webhook endpoints, devices, consent log', async () => {
    await server.call('PUT', '/v1/subscribers/cur_devices', {});
    for (const route of onePageLists) {
      const listed = await server.call('GET', route);
      expect(listed.status, route).toBe(200);
      expect(listed.body.nextCursor).toBeNull();
      await expectRefused(route);
    }
  });

  // Found by the hostile-input sweep: these lists ignored every parameter (the consent log had no
  // query schema at all), so `?limit=1` answered the whole list and a typo went unnoticed, while
  // the lists that page answer 400 for a parameter they do not take.
  it('refuses a parameter the one-page lists do not take, limit included, naming it', async () => {
    await server.call('PUT', '/v1/subscribers/cur_devices', {});
    for (const route of onePageLists) {
      for (const [query, name] of [
        ['limit=1', 'limit'],
        ['status=sent', 'status'],
        ['curser=x', 'curser'],
      ]) {
        const answer = await server.call('GET', `${route}?${query}`);
        expect(answer.status, `${route}?${query}`).toBe(400);
        expect(answer.body.error.code).toBe('validation_failed');
        expect(answer.body.error.details.map((d: Json) => d.path)).toEqual([name]);
      }
      // A parameter sent empty is one not sent (as on every list).
      expect((await server.call('GET', `${route}?cursor=&limit=`)).status, route).toBe(200);
    }
  });
});

describe('bulk subscriber upsert', () => {
  it('answers one result per item in order; a bad item refuses only itself', async () => {
    const response = await server.call('POST', '/v1/subscribers/bulk', {
      subscribers: [
        { subscriberId: 'bulk_1', email: 'bulk_1@example.com', timezone: 'Asia/Tokyo' },
        { subscriberId: 'bulk_2', email: 'not an address' },
        { email: 'no-id@example.com' },
        { subscriberId: 'bulk_3', data: { plan: 'pro' }, extra: true },
        { subscriberId: 'bulk_4', locale: 'es-MX', data: { plan: 'pro' } },
        'bulk_5',
      ],
    });
    expect(response.status).toBe(202);
    const results = response.body.results;
    expect(results).toHaveLength(6);
    expect(results[0]).toMatchObject({ subscriberId: 'bulk_1', timezone: 'Asia/Tokyo' });
    expect(results[1].error.code).toBe('validation_failed');
    expect(results[1].error.details.map((d: Json) => d.path)).toContain('subscribers[1].email');
    expect(results[2].error.details.map((d: Json) => d.path)).toContain('subscribers[2].subscriberId');
    expect(results[3].error.details.map((d: Json) => d.path)).toContain('subscribers[3].extra');
    expect(results[4]).toMatchObject({ subscriberId: 'bulk_4', locale: 'es-MX', data: { plan: 'pro' } });
    expect(results[5].error.details[0].path).toBe('subscribers[5]');
    expect((await server.call('GET', '/v1/subscribers/bulk_1')).body.email).toBe('bulk_1@example.com');
    for (const id of ['bulk_2', 'bulk_3'])
      expect((await server.call('GET', `/v1/subscribers/${id}`)).status).toBe(404);
    // An upsert: fields an item leaves out are kept.
    const again = await server.call('POST', '/v1/subscribers/bulk', {
      subscribers: [{ subscriberId: 'bulk_1', locale: 'ja' }],
    });
    expect(again.body.results[0]).toMatchObject({ email: 'bulk_1@example.com', locale: 'ja' });
    expect((await server.call('GET', '/v1/subscribers/bulk_1', undefined, other)).status).toBe(404);
  });

  it('refuses only the item whose data is over 65536 bytes as JSON, naming subscribers[i].data', async () => {
    await server.call('PUT', '/v1/subscribers/bulk_cap_2', { data: { plan: 'free' } });
    const response = await server.call('POST', '/v1/subscribers/bulk', {
      subscribers: [
        { subscriberId: 'bulk_cap_1', data: { s: 'x'.repeat(MAX_SUBSCRIBER_DATA_BYTES - 8) } },
        { subscriberId: 'bulk_cap_2', locale: 'de', data: { s: 'x'.repeat(MAX_SUBSCRIBER_DATA_BYTES - 7) } },
        { subscriberId: 'bulk_cap_3', data: { s: 'x'.repeat(MAX_SUBSCRIBER_DATA_BYTES) } },
        { subscriberId: 'bulk_cap_4', data: { plan: 'pro' } },
      ],
    });
    expect(response.status).toBe(202);
    const [atLimit, over, beyond, small] = response.body.results;
    expect(atLimit).toMatchObject({ subscriberId: 'bulk_cap_1' });
    expect(over.error).toMatchObject({
      code: 'validation_failed',
      details: [
        {
          path: 'subscribers[1].data',
          message: 'must be at most 65536 bytes as JSON (UTF-8); it is 65537 bytes',
        },
      ],
    });
    expect(beyond.error.details.map((d: Json) => d.path)).toEqual(['subscribers[2].data']);
    expect(small).toMatchObject({ subscriberId: 'bulk_cap_4', data: { plan: 'pro' } });
    expect((await server.call('GET', '/v1/subscribers/bulk_cap_1')).body.data.s).toHaveLength(
      MAX_SUBSCRIBER_DATA_BYTES - 8,
    );
    // The refused items wrote nothing: the subscriber kept its data and locale, the new one is not made.
    expect((await server.call('GET', '/v1/subscribers/bulk_cap_2')).body).toMatchObject({
      locale: null,
      data: { plan: 'free' },
    });
    expect((await server.call('GET', '/v1/subscribers/bulk_cap_3')).status).toBe(404);
  });

  it('takes 1000 items, refuses 1001 and an empty list', async () => {
    const items = (n: number) => Array.from({ length: n }, (_, i) => ({ subscriberId: `many_${i}` }));
    const full = await server.call('POST', '/v1/subscribers/bulk', { subscribers: items(1000) });
    expect(full.status).toBe(202);
    expect(full.body.results).toHaveLength(1000);
    expect((await server.call('GET', '/v1/subscribers/many_999')).status).toBe(200);
    for (const subscribers of [items(1001), []]) {
      const refused = await server.call('POST', '/v1/subscribers/bulk', { subscribers });
      expect(refused.status).toBe(400);
      expect(refused.body.error.details[0].path).toBe('subscribers');
    }
    expect((await server.call('GET', '/v1/subscribers/many_1000')).status).toBe(404);
  });
});

describe('removing', () => {
  it('deletes a workflow: new events are refused, scheduled and deferred ones cancelled, sent ones kept', async () => {
    expect((await server.call('PUT', '/v1/workflows/doomed', inAppAndEmail)).status).toBe(200);
    // Held by quiet hours: in-app is delivered at once, the email waits as deferred.
    await server.call('PUT', '/v1/subscribers/doomed_1', { email: 'doomed_1@example.com', timezone: 'UTC' });
    const hhmm = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString().slice(11, 16);
    await server.call('PATCH', '/v1/subscribers/doomed_1/preferences', {
      quietHours: { start: hhmm(-60), end: hhmm(60) },
    });
    const held = await server.call('POST', '/v1/events', {
      workflow: 'doomed',
      to: ['doomed_1'],
      data: { n: 1 },
    });
    const deferred = await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${held.body.eventId}`)).body;
      return view.messages?.length === 2 && view.messages.some((m: Json) => m.status === 'deferred')
        ? view
        : null;
    }, 'the email deferred by quiet hours');
    const scheduled = await server.call('POST', '/v1/events', {
      workflow: 'doomed',
      to: ['doomed_2'],
      sendAt: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(scheduled.status).toBe(202);
    // Another tenant's workflow of the same key stays.
    expect((await server.call('PUT', '/v1/workflows/doomed', inAppAndEmail, other)).status).toBe(200);

    const deleted = await server.call('DELETE', '/v1/workflows/doomed');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ key: 'doomed', deleted: true, cancelledEvents: 1, cancelledMessages: 1 });
    expect((await server.call('GET', '/v1/workflows/doomed')).status).toBe(404);
    expect((await server.call('DELETE', '/v1/workflows/doomed')).status).toBe(404);
    const refused = await server.call('POST', '/v1/events', { workflow: 'doomed', to: ['doomed_1'] });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('workflow_not_found');

    const scheduledView = (await server.call('GET', `/v1/events/${scheduled.body.eventId}`)).body;
    expect(scheduledView.status).toBe('cancelled');
    const heldView = (await server.call('GET', `/v1/events/${held.body.eventId}`)).body;
    const email = heldView.messages.find((m: Json) => m.channel === 'email');
    expect(email.status).toBe('cancelled');
    expect(email.timeline.at(-1)).toMatchObject({
      status: 'cancelled',
      detail: 'cancelled: workflow "doomed" was deleted',
    });
    const inApp = deferred.messages.find((m: Json) => m.channel === 'in_app');
    expect((await server.call('GET', `/v1/messages/${inApp.messageId}`)).body.status).toBe('delivered');
    expect((await server.call('GET', '/v1/workflows/doomed', undefined, other)).status).toBe(200);
  });

  it('deletes an integration: its channel goes back to the sandbox, other tenants keep theirs', async () => {
    const body = { channel: 'sms', provider: 'sandbox', priority: 1 };
    expect((await server.call('PUT', '/v1/integrations/texts', body)).status).toBe(200);
    expect((await server.call('PUT', '/v1/integrations/texts', body, other)).status).toBe(200);
    const listed = await server.call('GET', '/v1/integrations');
    expect(listed.body.nextCursor).toBeNull();
    expect(listed.body.items.map((i: Json) => i.id)).toContain('texts');

    expect((await server.call('DELETE', '/v1/integrations/texts')).status).toBe(204);
    expect((await server.call('GET', '/v1/integrations/texts')).status).toBe(404);
    expect((await server.call('GET', '/v1/integrations')).body.items.map((i: Json) => i.id)).not.toContain(
      'texts',
    );
    expect((await server.call('DELETE', '/v1/integrations/texts')).status).toBe(404);
    expect((await server.call('GET', '/v1/integrations/texts', undefined, other)).status).toBe(200);
  });

  it('deletes a topic: events to it are refused, its subscribers stay', async () => {
    await server.call('PUT', '/v1/topics/gone');
    await server.call('POST', '/v1/topics/gone/subscribers', { subscriberIds: ['gone_1'] });
    await server.call('PUT', '/v1/topics/gone', {}, other);
    expect((await server.call('DELETE', '/v1/topics/gone')).status).toBe(204);
    expect((await server.call('GET', '/v1/topics/gone')).status).toBe(404);
    expect((await server.call('GET', '/v1/topics/gone/subscribers')).status).toBe(404);
    expect((await server.call('DELETE', '/v1/topics/gone')).status).toBe(404);
    expect((await server.call('GET', '/v1/subscribers/gone_1')).status).toBe(200);
    await server.call('PUT', '/v1/workflows/to_topic', inAppAndEmail);
    const refused = await server.call('POST', '/v1/events', {
      workflow: 'to_topic',
      to: [{ topic: 'gone' }],
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('topic_not_found');
    expect((await server.call('GET', '/v1/topics/gone', undefined, other)).status).toBe(200);
  });
});
