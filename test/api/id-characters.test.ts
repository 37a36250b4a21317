import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Ids are what API.md says: 1–100 characters without control or bidi-override characters. Spaces,
 * '/', '?' and '#' are taken, and work through every route once percent-encoded in a path; "."
 * and ".." are refused (a path cannot name them: clients resolve them as dot segments).
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const path = (id: string) => encodeURIComponent(id);
const SUBSCRIBER = 'Ada Lovelace/org#1?x=2';
const TOPIC = 'team a/b';
const WORKFLOW = 'order shipped/v2';

describe('ids with spaces, slashes, question marks and hashes', () => {
  it('are stored, sent to and read, erased, through percent-encoded paths', async () => {
    const put = await server.call('PUT', `/v1/subscribers/${path(SUBSCRIBER)}`, { email: 'ada@example.com' });
    expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
    expect((await server.call('GET', `/v1/subscribers/${path(SUBSCRIBER)}`)).body.subscriberId).toBe(
      SUBSCRIBER,
    );

    const workflow = await server.call('PUT', `/v1/workflows/${path(WORKFLOW)}`, {
      channels: [{ channel: 'in_app', template: { title: 'Shipped', body: 'Order {{ data.n }}' } }],
    });
    expect(workflow.status, JSON.stringify(workflow.body)).toBeLessThan(300);
    expect((await server.call('PUT', `/v1/topics/${path(TOPIC)}`, { name: 'Team' })).status).toBeLessThan(
      300,
    );
    const add = await server.call('POST', `/v1/topics/${path(TOPIC)}/subscribers`, {
      subscriberIds: [SUBSCRIBER],
    });
    expect(add.status, JSON.stringify(add.body)).toBeLessThan(300);

    const event = await server.call('POST', '/v1/events', {
      workflow: WORKFLOW,
      to: [{ topic: TOPIC }],
      data: { n: 7 },
    });
    expect(event.status, JSON.stringify(event.body)).toBe(202);
    let messages: { subscriberId: string; status: string }[] = [];
    await expect
      .poll(async () => {
        const list = await server.call('GET', `/v1/messages?subscriberId=${path(SUBSCRIBER)}`);
        messages = list.body.items ?? [];
        return messages.map((m) => m.status);
      })
      .toEqual(['delivered']);
    expect(messages[0]?.subscriberId).toBe(SUBSCRIBER);

    const device = await server.call(
      'PUT',
      `/v1/subscribers/${path(SUBSCRIBER)}/devices/${path('phone #1')}`,
      {
        platform: 'fcm',
        token: 'f'.repeat(64),
      },
    );
    expect(device.status, JSON.stringify(device.body)).toBeLessThan(300);
    const devices = await server.call('GET', `/v1/subscribers/${path(SUBSCRIBER)}/devices`);
    expect(devices.body.items.map((d: { deviceId: string }) => d.deviceId)).toEqual(['phone #1']);

    expect((await server.call('DELETE', `/v1/subscribers/${path(SUBSCRIBER)}`)).status).toBe(202);
    await expect
      .poll(async () => (await server.call('GET', `/v1/subscribers/${path(SUBSCRIBER)}`)).status)
      .toBe(404);
  });

  it.each(['.', '..'])('refuses %j, which no path can name', async (id) => {
    const event = await server.call('POST', '/v1/events', { workflow: WORKFLOW, to: [id] });
    expect(event.status).toBe(400);
    expect(event.body.error.details[0]).toMatchObject({
      path: 'to[0]',
      message: 'must not be "." or "..", nor contain control characters or bidi overrides',
    });
    // An idempotency key never sits in a path: "." is one like any other.
    const keyed = await server.call('POST', '/v1/events', {
      workflow: WORKFLOW,
      to: ['u'],
      idempotencyKey: id,
    });
    expect(keyed.status, JSON.stringify(keyed.body)).toBe(202);
  });
});
