import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { openSse } from '../helpers/sse.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: test payloads are read field by field and checked by assertions
type Json = any;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await server.call('PATCH', '/v1/settings', { inboxTabs: { social: ['social'], money: ['billing'] } });
  for (const [key, category] of [
    ['ping', undefined],
    ['liked', 'social'],
    ['invoice', 'billing'],
  ] as const) {
    const put = await server.call('PUT', `/v1/workflows/${key}`, {
      ...(category ? { category } : {}),
      channels: [
        {
          channel: 'in_app',
          template: {
            title: `${key} {{ data.n }}`,
            body: 'b',
            actionUrl: 'https://app.example.test/items/{{ data.n }}',
            // The contract's form; stored as flat fields (action1Label/action1Url).
            actions: [{ label: 'Reply', url: 'https://app.example.test/reply/{{ data.n }}' }],
          },
        },
      ],
    });
    expect(put.status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

async function tokenFor(subscriberId: string): Promise<string> {
  return (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
}

async function trigger(subscriberId: string, n: number, workflow = 'ping'): Promise<void> {
  const sent = await server.call('POST', '/v1/events', { workflow, to: [subscriberId], data: { n } });
  expect(sent.status).toBe(202);
}

/** A WebSocket client that keeps every event it got, and waits for the next of a type. */
interface WsClient {
  socket: WebSocket;
  seen: Json[];
  next(type: string, timeoutMs?: number): Promise<Json>;
  send(message: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

function openWs(url: string): Promise<WsClient> {
  const socket = new WebSocket(url);
  const seen: Json[] = [];
  let cursor = 0;
  const waiting: { type: string; resolve: (event: Json) => void }[] = [];
  const deliver = () => {
    for (let i = 0; i < waiting.length; ) {
      const want = waiting[i]!;
      const index = seen.findIndex((e, j) => j >= cursor && e.type === want.type);
      if (index < 0) {
        i++;
        continue;
      }
      cursor = index + 1;
      waiting.splice(i, 1);
      want.resolve(seen[index]);
    }
  };
  socket.on('message', (data) => {
    seen.push(JSON.parse(String(data)));
    deliver();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`upgrade refused: ${response.statusCode}`)),
    );
    socket.once('open', () =>
      resolve({
        socket,
        seen,
        closed,
        send: (message) => socket.send(JSON.stringify(message)),
        close: () => socket.close(),
        next(type, timeoutMs = 10_000) {
          return new Promise((done, fail) => {
            const timer = setTimeout(
              () => fail(new Error(`no "${type}" within ${timeoutMs} ms (saw ${seen.map((e) => e.type)})`)),
              timeoutMs,
            );
            waiting.push({
              type,
              resolve: (event) => {
                clearTimeout(timer);
                done(event);
              },
            });
            deliver();
          });
        },
      }),
    );
  });
}

/** A client's text frame (masked, under 126 bytes), for writing to a socket under the ws client. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  return Buffer.concat([
    Buffer.from([0x81, 0x80 | payload.length]),
    mask,
    payload.map((byte, i) => byte ^ mask[i % 4]!),
  ]);
}

const wsUrl = (query: string) => `${server.url.replace(/^http/, 'ws')}/v1/inbox/ws?${query}`;

describe('GET /v1/inbox/ws', () => {
  it("ends an erased subscriber's open streams (WebSocket close 4401, SSE ended), and leaves others open", async () => {
    const token = await tokenFor('ws_erased');
    const ws = await openWs(wsUrl(`token=${encodeURIComponent(token)}`));
    const sse = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    const other = await openWs(wsUrl(`token=${encodeURIComponent(await tokenFor('ws_kept'))}`));
    try {
      await ws.next('ready');
      await sse.next('ready');
      await other.next('ready');
      expect((await server.call('DELETE', '/v1/subscribers/ws_erased')).status).toBe(202);
      expect(await ws.closed).toMatchObject({ code: 4401, reason: 'the subscriber was erased' });
      await sse.ended;
      // The token no longer holds, for a stream opened afterwards too: on the URL or in the first message.
      await expect(openWs(wsUrl(`token=${encodeURIComponent(token)}`))).rejects.toThrow('404');
      const late = await openWs(wsUrl(''));
      late.send({ type: 'auth', token });
      expect((await late.closed).code).toBe(4401);
      expect(late.seen).toEqual([]);
      await trigger('ws_kept', 1);
      await other.next('item.created');
    } finally {
      ws.close();
      sse.close();
      other.close();
    }
  });

  it("an erasure whose commit's answer was lost still ends the subscriber's streams here; one rolled back does not", async () => {
    const store = server.tidings.store;
    const original = store.beginErasure.bind(store);
    const lostToken = await tokenFor('ws_ack_lost');
    const keptToken = await tokenFor('ws_rolled_back');
    const lost = await openWs(wsUrl(`token=${encodeURIComponent(lostToken)}`));
    const kept = await openWs(wsUrl(`token=${encodeURIComponent(keptToken)}`));
    try {
      await lost.next('ready');
      await kept.next('ready');
      // Committed, then the connection failed before the answer came.
      store.beginErasure = async (...args) => {
        await original(...args);
        throw new Error('connection lost after COMMIT');
      };
      expect((await server.call('DELETE', '/v1/subscribers/ws_ack_lost')).status).toBe(500);
      expect(await lost.closed).toMatchObject({ code: 4401, reason: 'the subscriber was erased' });
      // Failed before anything committed: the stream checks, and stays.
      store.beginErasure = async () => {
        throw new Error('could not begin');
      };
      expect((await server.call('DELETE', '/v1/subscribers/ws_rolled_back')).status).toBe(500);
      store.beginErasure = original;
      await trigger('ws_rolled_back', 1);
      await kept.next('item.created');
      expect(kept.socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      store.beginErasure = original;
      lost.close();
      kept.close();
    }
  });

  it("a message that arrives while the server closes an erased subscriber's socket does nothing", async () => {
    const store = server.tidings.store;
    const original = store.markInbox.bind(store);
    const marked: string[] = [];
    store.markInbox = (tenantId, subscriberId, ...rest) => {
      marked.push(subscriberId);
      return original(tenantId, subscriberId, ...rest);
    };
    const ws = await openWs(wsUrl(`token=${encodeURIComponent(await tokenFor('ws_erased_acting'))}`));
    try {
      await ws.next('ready');
      // The client reads nothing more: it has not seen the close frame when its message goes.
      const raw = (ws.socket as unknown as { _socket: import('node:net').Socket })._socket;
      raw.pause();
      expect((await server.call('DELETE', '/v1/subscribers/ws_erased_acting')).status).toBe(202);
      raw.write(maskedTextFrame(JSON.stringify({ type: 'read', itemId: 'any' })));
      raw.resume();
      expect(await ws.closed).toMatchObject({ code: 4401 });
      expect(marked).toEqual([]);
    } finally {
      store.markInbox = original;
      ws.close();
    }
  });

  it('pushes a trigger within a second, and a read sent on one connection reaches the other', async () => {
    const token = await tokenFor('ws_ada');
    const phone = await openWs(wsUrl(`token=${encodeURIComponent(token)}`));
    // The token as the first message instead of on the URL.
    const laptop = await openWs(wsUrl(''));
    laptop.send({ type: 'auth', token });
    try {
      expect(await phone.next('ready')).toEqual({ type: 'ready', unreadCount: 0 });
      await laptop.next('ready');

      const started = Date.now();
      await trigger('ws_ada', 1);
      const created = await phone.next('item.created');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(created).toMatchObject({ type: 'item.created', item: { title: 'ping 1' }, unreadCount: 1 });
      expect(created.id).toMatch(/^\d+$/);
      await laptop.next('item.created');

      phone.send({ type: 'read', itemId: created.item.id });
      const updated = await laptop.next('item.updated');
      expect(updated).toMatchObject({ item: { id: created.item.id }, unreadCount: 0 });
      expect(updated.item.readAt).not.toBeNull();
      expect(Number(updated.id)).toBeGreaterThan(Number(created.id));

      await trigger('ws_ada', 2);
      await laptop.next('item.created');
      laptop.send({ type: 'read-all' });
      expect(await phone.next('inbox.read-all')).toMatchObject({ unreadCount: 0 });

      // A bad message is answered, and the connection stays.
      phone.send({ type: 'read', itemId: 'msg_nope' });
      expect((await phone.next('error')).error.code).toBe('not_found');
      phone.send({ type: 'shout' });
      expect((await phone.next('error')).error).toMatchObject({ code: 'validation_failed' });
      expect(phone.socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      phone.close();
      laptop.close();
    }
  });

  it('refuses a bad token before the upgrade, and a bad first message with close code 4401', async () => {
    await expect(openWs(wsUrl('token=a.b.c'))).rejects.toThrow('401');
    await expect(openWs(wsUrl('after=x&token=' + (await tokenFor('ws_bad'))))).rejects.toThrow('400');
    const client = await openWs(wsUrl(''));
    client.send({ type: 'auth', token: 'a.b.c' });
    expect((await client.closed).code).toBe(4401);
  });

  it('holds at most 32 connections of one address waiting for their token; the next is closed, and one that sends it frees a place', async () => {
    const waiting = await Promise.all(Array.from({ length: 32 }, () => openWs(wsUrl(''))));
    const extra = await openWs(wsUrl(''));
    expect((await extra.closed).code).toBe(1013);
    // One of the 32 authenticates: it is served, and its place is free for another.
    const token = await tokenFor('ws_waiting');
    waiting[0]!.send({ type: 'auth', token });
    await waiting[0]!.next('ready');
    const next = await openWs(wsUrl(''));
    next.send({ type: 'auth', token });
    await next.next('ready');
    for (const client of [...waiting, next]) client.close();
    await Promise.all([...waiting, next].map((client) => client.closed));
  });

  it('closes open sockets with 1001 when the server stops, without holding the shutdown', async () => {
    const own = await startTestServer();
    const token = (await own.call('POST', '/v1/subscribers/ws_stop/token')).body.token;
    const client = await openWs(
      `${own.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`,
    );
    await client.next('ready');
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(8_000);
    expect((await client.closed).code).toBe(1001);
  });

  it('replays what was missed from ?after=, then goes on live', async () => {
    const token = await tokenFor('ws_resume');
    await trigger('ws_resume', 0);
    await waitFor(
      async () =>
        (await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count === 1,
      'the item from before the connection',
    );
    const first = await openWs(wsUrl(`token=${encodeURIComponent(token)}`));
    await first.next('ready');
    await trigger('ws_resume', 1);
    const last = await first.next('item.created');
    first.close();
    await first.closed;

    for (let n = 2; n <= 6; n++) await trigger('ws_resume', n);
    await waitFor(
      async () =>
        (await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count === 7,
      'the five missed items',
    );
    const again = await openWs(wsUrl(`token=${encodeURIComponent(token)}&after=${last.id}`));
    try {
      await again.next('ready');
      const replayed = [];
      for (let n = 0; n < 5; n++) replayed.push(await again.next('item.created'));
      expect(replayed.map((e) => e.item.title).sort()).toEqual([
        'ping 2',
        'ping 3',
        'ping 4',
        'ping 5',
        'ping 6',
      ]);
      await trigger('ws_resume', 7);
      expect((await again.next('item.created')).item.title).toBe('ping 7');
      // Exactly those: nothing before the resume point, nothing twice.
      expect(again.seen.filter((e) => e.type === 'item.created')).toHaveLength(6);
    } finally {
      again.close();
    }
  });

  it('keeps at most 20 streams per subscriber across SSE and WebSocket: a 21st closes the oldest', async () => {
    const token = await tokenFor('ws_many');
    const oldest = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    await oldest.next('ready');
    const sockets: WsClient[] = [];
    try {
      for (let i = 0; i < 19; i++) {
        const client = await openWs(wsUrl(`token=${encodeURIComponent(token)}`));
        await client.next('ready');
        sockets.push(client);
      }
      const twentyFirst = await openWs(wsUrl(`token=${encodeURIComponent(token)}`));
      sockets.push(twentyFirst);
      await twentyFirst.next('ready');
      // The SSE stream was the oldest: it ended; the 21st opens another and the oldest socket goes.
      const another = await openWs(wsUrl(`token=${encodeURIComponent(token)}`));
      sockets.push(another);
      expect((await sockets[0]!.closed).code).toBe(4429);
      await trigger('ws_many', 1);
      await oldest.next('item.created', 1500).then(
        () => expect.unreachable('the oldest stream must have ended'),
        (error: Error) => expect(error.message).toContain('no "item.created"'),
      );
    } finally {
      oldest.close();
      for (const client of sockets) client.close();
    }
  });
});

describe('SSE resume', () => {
  it('reconnects with Last-Event-ID and gets exactly the 5 events it missed', async () => {
    const token = await tokenFor('sse_resume');
    const url = `${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`;
    const first = await openSse(url);
    await first.next('ready');
    await trigger('sse_resume', 0);
    const seen = await first.next('item.created');
    expect(seen.data).toMatchObject({ type: 'item.created', id: seen.id });
    first.close();

    for (let n = 1; n <= 5; n++) await trigger('sse_resume', n);
    await waitFor(
      async () =>
        (await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: token })).body.count === 6,
      'the five missed items',
    );
    const again = await openSse(url, { 'last-event-id': seen.id! });
    try {
      await again.next('ready');
      const replayed = [];
      for (let n = 0; n < 5; n++) replayed.push(await again.next('item.created'));
      expect(replayed.map((e) => e.data.item.title).sort()).toEqual([
        'ping 1',
        'ping 2',
        'ping 3',
        'ping 4',
        'ping 5',
      ]);
      expect(new Set(replayed.map((e) => e.id)).size).toBe(5);
      await trigger('sse_resume', 6);
      expect((await again.next('item.created')).data.item.title).toBe('ping 6');
      expect(again.seen.filter((e) => e.event === 'item.created')).toHaveLength(6);
    } finally {
      again.close();
    }
    const bad = await fetch(url, { headers: { 'last-event-id': 'yesterday' } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.details[0].path).toBe('Last-Event-ID');
  });
});

describe('skipIfOnline', () => {
  it('suppresses the step with reason online while an inbox connection is open, and sends it otherwise', async () => {
    const put = await server.call('PUT', '/v1/workflows/nudge', {
      channels: [
        { channel: 'in_app', template: { title: 'Nudge', body: 'b' } },
        { channel: 'sms', skipIfOnline: true, template: { body: 'Nudge' } },
      ],
    });
    expect(put.status).toBe(200);
    await server.call('PUT', '/v1/subscribers/online_ada', { phone: '+15555550100' });
    const smsOf = async (eventId: string) =>
      waitFor(async () => {
        const event = (await server.call('GET', `/v1/events/${eventId}`)).body;
        const sms = event.messages?.find((m: Json) => m.channel === 'sms');
        return sms && ['suppressed', 'sent'].includes(sms.status) ? sms : null;
      }, 'the sms to settle');

    const token = await tokenFor('online_ada');
    const stream = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    await stream.next('ready');
    const online = await server.call('POST', '/v1/events', { workflow: 'nudge', to: ['online_ada'] });
    expect(await smsOf(online.body.eventId)).toMatchObject({ status: 'suppressed', reason: 'online' });
    stream.close();

    // Gone offline: the presence row goes with the last connection.
    await waitFor(async () => {
      const offline = await server.call('POST', '/v1/events', { workflow: 'nudge', to: ['online_ada'] });
      return (await smsOf(offline.body.eventId)).status === 'sent';
    }, 'an sms to be sent once the subscriber is offline');

    const refused = await server.call('PUT', '/v1/workflows/bad-skip', {
      channels: [{ channel: 'in_app', skipIfOnline: true, template: { title: 'x' } }],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details[0].path).toBe('channels[0].skipIfOnline');
  });
});

describe('inbox parity', () => {
  it('filters by status, category and tab, and counts unread per tab', async () => {
    const token = await tokenFor('tabs_ada');
    const inbox = (query: string) =>
      server.call('GET', `/v1/inbox?${query}`, undefined, { auth: token }).then((r) => {
        expect(r.status).toBe(200);
        return r.body.items.map((i: Json) => i.title).sort();
      });
    await trigger('tabs_ada', 1, 'liked');
    await trigger('tabs_ada', 2, 'liked');
    await trigger('tabs_ada', 3, 'invoice');
    await trigger('tabs_ada', 4, 'ping');
    await waitFor(async () => (await inbox('')).length === 4, 'four items');

    const all = (await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items;
    const liked1 = all.find((i: Json) => i.title === 'liked 1');
    await server.call('POST', `/v1/inbox/${liked1.id}/read`, undefined, { auth: token });

    expect(await inbox('tab=social')).toEqual(['liked 1', 'liked 2']);
    expect(await inbox('category=billing')).toEqual(['invoice 3']);
    expect(await inbox('status=unread')).toEqual(['invoice 3', 'liked 2', 'ping 4']);
    expect(await inbox('status=read')).toEqual(['liked 1']);
    expect(await inbox('status=unread&tab=social')).toEqual(['liked 2']);
    const counts = await server.call('GET', '/v1/inbox/unread-count?tabs=true', undefined, { auth: token });
    expect(counts.body).toEqual({ count: 3, tabs: { social: 1, money: 1 } });

    const unknownTab = await server.call('GET', '/v1/inbox?tab=nope', undefined, { auth: token });
    expect(unknownTab.status).toBe(400);
    expect(unknownTab.body.error.details[0].path).toBe('tab');
    expect((await server.call('GET', '/v1/inbox?status=old', undefined, { auth: token })).status).toBe(400);

    // Archived items are listed only on request and never count as unread.
    const invoice = all.find((i: Json) => i.title === 'invoice 3');
    await server.call('POST', `/v1/inbox/${invoice.id}/archive`, undefined, { auth: token });
    expect(await inbox('archived=true')).toEqual(['invoice 3']);
    expect(
      (await server.call('GET', '/v1/inbox/unread-count?tabs=true', undefined, { auth: token })).body,
    ).toEqual({
      count: 2,
      tabs: { social: 1, money: 0 },
    });
  });

  it('sets tabs through PATCH /v1/settings, checking their shape', async () => {
    const settings = await server.call('GET', '/v1/settings');
    expect(settings.body.inboxTabs).toEqual({ social: ['social'], money: ['billing'] });
    const bad = await server.call('PATCH', '/v1/settings', { inboxTabs: { social: 'social' } });
    expect(bad.status).toBe(400);
  });

  it('marks unread, records clicks with their URL, and snoozes an item until it returns as new', async () => {
    const token = await tokenFor('parity_ada');
    const stream = await openSse(`${server.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    try {
      await stream.next('ready');
      await trigger('parity_ada', 9);
      const item = (await stream.next('item.created')).data.item;
      expect(item).toMatchObject({
        actionUrl: 'https://app.example.test/items/9',
        actions: [{ label: 'Reply', url: 'https://app.example.test/reply/9' }],
      });
      const as = { auth: token };

      await server.call('POST', `/v1/inbox/${item.id}/read`, undefined, as);
      const unread = await server.call('POST', `/v1/inbox/${item.id}/unread`, undefined, as);
      expect(unread.status).toBe(200);
      expect(unread.body.readAt).toBeNull();
      expect((await server.call('GET', '/v1/inbox/unread-count', undefined, as)).body.count).toBe(1);

      const click = await server.call('POST', `/v1/inbox/${item.id}/click`, { action: 'Reply' }, as);
      expect(click.status).toBe(200);
      expect(click.body.url).toBe('https://app.example.test/reply/9');
      const plain = await server.call('POST', `/v1/inbox/${item.id}/click`, undefined, as);
      expect(plain.body.url).toBe('https://app.example.test/items/9');
      const message = (await server.call('GET', `/v1/messages/${item.id}`)).body;
      expect(message.status).toBe('clicked');
      expect(message.timeline.some((e: Json) => e.status === 'clicked')).toBe(true);
      const badAction = await server.call('POST', `/v1/inbox/${item.id}/click`, { action: 1 }, as);
      expect(badAction.status).toBe(422);
      expect(badAction.body.error.details[0].path).toBe('action');

      const past = await server.call(
        'POST',
        `/v1/inbox/${item.id}/snooze`,
        { until: '2001-01-01T00:00:00Z' },
        as,
      );
      expect(past.status).toBe(400);
      const until = new Date(Date.now() + 1500).toISOString();
      const snoozed = await server.call('POST', `/v1/inbox/${item.id}/snooze`, { until }, as);
      expect(snoozed.status).toBe(200);
      await waitFor(
        () => stream.seen.some((e) => e.event === 'item.updated' && e.data.item.snoozedUntil === until),
        'the snooze to reach the stream',
      );
      expect((await server.call('GET', '/v1/inbox', undefined, as)).body.items).toEqual([]);
      // Back when the snooze ends, as new, pushed as item.created.
      const back = await stream.next('item.created', 10_000);
      expect(back.data.item).toMatchObject({ id: item.id, readAt: null, seenAt: null, snoozedUntil: null });
      expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(until));
      expect(
        (await server.call('GET', '/v1/inbox', undefined, as)).body.items.map((i: Json) => i.id),
      ).toEqual([item.id]);
    } finally {
      stream.close();
    }
  });
});

describe('in-app template actions', () => {
  it('takes at most two {label, url} and names what is wrong', async () => {
    const put = (actions: unknown) =>
      server.call('PUT', '/v1/workflows/acts', {
        channels: [{ channel: 'in_app', template: { title: 't', actions } }],
      });
    const three = await put([1, 2, 3].map((n) => ({ label: `a${n}`, url: 'https://x.example' })));
    expect(three.status).toBe(400);
    expect(three.body.error.details[0].path).toBe('channels[0].template.actions');
    const bad = await put([{ label: 'ok', url: 'https://x.example' }, { label: 7 }]);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('channels[0].template.actions[1]');
    const good = await put([{ label: 'Open', url: 'https://x.example/{{ data.id }}' }]);
    expect(good.status).toBe(200);
    expect(good.body.channels[0].template).toMatchObject({
      action1Label: 'Open',
      action1Url: 'https://x.example/{{ data.id }}',
    });
  });
});

describe('in-app template actions in every template of a step', () => {
  /** The actions of the one inbox item `workflow` leaves for a fresh subscriber of `locale`. */
  async function actionsFor(workflow: string, subscriberId: string, locale: string) {
    await server.call('PUT', `/v1/subscribers/${subscriberId}`, { locale });
    expect((await server.call('POST', '/v1/events', { workflow, to: [subscriberId] })).status).toBe(202);
    const token = await tokenFor(subscriberId);
    const item = await waitFor(async () => {
      const items = (await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items;
      return items?.[0] ?? null;
    }, 'the inbox item');
    return item.actions;
  }

  it("takes actions in a locale's fields and in a variant's template, as in the default one", async () => {
    // Found by the hostile-input sweep: `actions` was taken only in `template`; in `locales.es` (labels
    // in the reader's language) or a variant's template it was a 400 "must be string".
    const localized = await server.call('PUT', '/v1/workflows/acts-es', {
      channels: [
        {
          channel: 'in_app',
          template: { title: 't', actions: [{ label: 'Open', url: 'https://x.example/o' }] },
          locales: { es: { actions: [{ label: 'Abrir', url: 'https://x.example/o' }] } },
        },
      ],
    });
    expect(localized.status, JSON.stringify(localized.body)).toBe(200);
    expect(localized.body.channels[0].locales.es).toEqual({
      action1Label: 'Abrir',
      action1Url: 'https://x.example/o',
    });
    expect(await actionsFor('acts-es', 'acts_es', 'es-MX')).toEqual([
      { label: 'Abrir', url: 'https://x.example/o' },
    ]);
    expect(await actionsFor('acts-es', 'acts_en', 'en')).toEqual([
      { label: 'Open', url: 'https://x.example/o' },
    ]);

    const variant = (label: string) => ({ title: 't', actions: [{ label, url: 'https://x.example/v' }] });
    const varied = await server.call('PUT', '/v1/workflows/acts-ab', {
      channels: [
        {
          channel: 'in_app',
          variants: [
            { name: 'a', weight: 1, template: variant('Go') },
            { name: 'b', weight: 1, template: variant('Go') },
          ],
        },
      ],
    });
    expect(varied.status, JSON.stringify(varied.body)).toBe(200);
    expect(await actionsFor('acts-ab', 'acts_ab', 'en')).toEqual([
      { label: 'Go', url: 'https://x.example/v' },
    ]);
  });

  it('refuses actions beside the flat action fields they become (one would silently replace the other)', async () => {
    const both = await server.call('PUT', '/v1/workflows/acts-both', {
      channels: [
        {
          channel: 'in_app',
          template: {
            title: 't',
            action1Label: 'Kept?',
            actions: [{ label: 'Open', url: 'https://x.example' }],
          },
        },
      ],
    });
    expect(both.status).toBe(400);
    expect(both.body.error.details.map((d: Json) => d.path)).toEqual(['channels[0].template.actions']);
  });
});
