import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// API.md: "JSON in and out". An event's data and a subscriber's data come back, and reach
// templates, with their keys in the order they were sent, on both stores. PostgreSQL's JSONB keeps
// an object's keys in an order of its own (shorter keys first), so the same event rendered
// differently there.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe('event data keeps its key order', () => {
  it('in the event view and in what its templates render', async () => {
    const put = await server.call('PUT', '/v1/workflows/data-order', {
      channels: [
        {
          channel: 'in_app',
          template: { title: 'order', body: '{% for p in data.lines %}{{ p[0] }}={{ p[1] }};{% endfor %}' },
        },
      ],
    });
    expect(put.status).toBe(200);
    const data = { lines: { zeta: 1, alpha: 2, mid: 3, b: 4 }, z: true, a: { y: 1, x: 2 } };
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'data-order',
      to: ['order_u1'],
      data,
    });
    expect(posted.status).toBe(202);

    const view = await server.call('GET', `/v1/events/${posted.body.eventId}`);
    expect(view.status).toBe(200);
    expect(JSON.stringify(view.body.data)).toBe(JSON.stringify(data));

    const [message] = await settledMessages(server, [posted.body.eventId], 1);
    expect([message.status, message.lastError]).toEqual(['delivered', null]);
    expect(message.content.body).toBe('zeta=1;alpha=2;mid=3;b=4;');

    // The inbox item keeps the event's data, in the same order.
    const token = (await server.call('POST', '/v1/subscribers/order_u1/token')).body.token;
    const inbox = await server.call('GET', '/v1/inbox', undefined, { auth: token });
    expect(inbox.status).toBe(200);
    expect(inbox.body.items.map((item: { data: unknown }) => JSON.stringify(item.data))).toEqual([
      JSON.stringify(data),
    ]);
  });

  it("in a subscriber's profile, however it was written, and in what templates render", async () => {
    const put = await server.call('PUT', '/v1/workflows/subscriber-data-order', {
      channels: [
        {
          channel: 'in_app',
          template: { title: 'order', body: '{% for p in subscriber.data %}{{ p[0] }};{% endfor %}' },
        },
      ],
    });
    expect(put.status).toBe(200);
    const data = { zeta: 1, alpha: { y: 1, x: 2 }, mid: 3, b: 4 };
    const sent = JSON.stringify(data);
    const single = await server.call('PUT', '/v1/subscribers/order_s1', { data });
    expect(JSON.stringify(single.body.data)).toBe(sent);
    const bulk = await server.call('POST', '/v1/subscribers/bulk', {
      subscribers: [{ subscriberId: 'order_s2', data }],
    });
    expect(JSON.stringify(bulk.body.results[0].data)).toBe(sent);
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'subscriber-data-order',
      to: ['order_s1', 'order_s2', { subscriberId: 'order_s3', data }],
    });
    expect(posted.status).toBe(202);
    const messages = await settledMessages(server, [posted.body.eventId], 3);
    for (const id of ['order_s1', 'order_s2', 'order_s3']) {
      const got = await server.call('GET', `/v1/subscribers/${id}`);
      expect(JSON.stringify(got.body.data)).toBe(sent);
      const message = messages.find((m) => m.subscriberId === id);
      expect(message.content.body).toBe('zeta;alpha;mid;b;');
    }
    // A PUT without data keeps it; one with data replaces it.
    await server.call('PUT', '/v1/subscribers/order_s1', { locale: 'de' });
    expect(JSON.stringify((await server.call('GET', '/v1/subscribers/order_s1')).body.data)).toBe(sent);
    await server.call('PUT', '/v1/subscribers/order_s1', { data: { z: 1, a: 2 } });
    expect(JSON.stringify((await server.call('GET', '/v1/subscribers/order_s1')).body.data)).toBe(
      '{"z":1,"a":2}',
    );
  });
});
