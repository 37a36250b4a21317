import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { openSse } from '../helpers/sse.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

async function tokenFor(subscriberId: string): Promise<string> {
  return (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
}

async function inboxOf(subscriberId: string) {
  const token = await tokenFor(subscriberId);
  return (await server.call('GET', '/v1/inbox?limit=100', undefined, { auth: token })).body.items;
}

describe('Finding 11 (part): template field names outside their pattern', () => {
  it('refuses a field name outside the pattern with 400 naming channels[i].template.<name>, keeps the others', async () => {
    for (const name of ['__proto__', '_x', 'a.b', '1abc', 'bad-name', 'héllo']) {
      // Raw JSON: `__proto__` must arrive as a key, as a client would send it.
      const body = `{"channels":[{"channel":"in_app","template":{"title":"ok",${JSON.stringify(name)}:"x"}}]}`;
      const put = await server.call('PUT', '/v1/workflows/names', body);
      expect({ name, status: put.status }).toEqual({ name, status: 400 });
      expect(put.body.error.code).toBe('validation_failed');
      expect(put.body.error.details).toEqual([
        { path: `channels[0].template.${name}`, message: expect.any(String) },
      ]);
    }
    expect((await server.call('GET', '/v1/workflows/names')).status).toBe(404);

    // Names inside the pattern that are also JavaScript property names stay plain fields.
    const put = await server.call('PUT', '/v1/workflows/js-names', {
      channels: [
        {
          channel: 'in_app',
          template: {
            title: 'T',
            constructor: 'c {{ data.n }}',
            prototype: 'p',
            toString: 's',
            hasOwnProperty: 'h',
          },
        },
      ],
    });
    expect(put.status).toBe(200);
    expect(put.body.channels[0].template).toEqual({
      title: 'T',
      constructor: 'c {{ data.n }}',
      prototype: 'p',
      toString: 's',
      hasOwnProperty: 'h',
    });
    expect(
      (await server.call('POST', '/v1/events', { workflow: 'js-names', to: ['js_1'], data: { n: 7 } }))
        .status,
    ).toBe(202);
    const [item] = await waitFor(async () => {
      const items = await inboxOf('js_1');
      return items.length === 1 ? items : null;
    }, 'the inbox item');
    expect(item.content).toEqual({
      title: 'T',
      constructor: 'c 7',
      prototype: 'p',
      toString: 's',
      hasOwnProperty: 'h',
    });
  });
});

describe('Finding 10 (part): inbox items expose the whole event data', () => {
  const data = { order: 'A-17', secret: 'internal-margin-42', nested: { card: '4242' } };

  async function deliverWith(key: string, inboxData: unknown, subscriberId: string) {
    const put = await server.call('PUT', `/v1/workflows/${key}`, {
      ...(inboxData === undefined ? {} : { inboxData }),
      channels: [{ channel: 'in_app', template: { title: 'Order {{ data.order }}' } }],
    });
    expect(put.status).toBe(200);
    expect(put.body.inboxData).toEqual(inboxData);
    const sent = await server.call('POST', '/v1/events', { workflow: key, to: [subscriberId], data });
    expect(sent.status).toBe(202);
    return waitFor(async () => {
      const items = await inboxOf(subscriberId);
      return items.length === 1 ? items[0] : null;
    }, `the inbox item of ${key}`);
  }

  it('shows all of it by default, none with "none", only the named keys with a list, in the inbox and on its stream', async () => {
    expect((await deliverWith('data-default', undefined, 'data_1')).data).toEqual(data);
    expect((await deliverWith('data-all', 'all', 'data_2')).data).toEqual(data);
    const token = await tokenFor('data_4');
    const stream = await openSse(`${server.url}/v1/inbox/stream`, { authorization: `Bearer ${token}` });
    try {
      await stream.next('ready');
      const none = await deliverWith('data-none', 'none', 'data_3');
      expect(none.data).toEqual({});
      expect(none.title).toBe('Order A-17');
      const some = await deliverWith('data-some', ['order', 'missing'], 'data_4');
      expect(some.data).toEqual({ order: 'A-17' });
      const pushed = await stream.next('item.created');
      expect(pushed.data.item.data).toEqual({ order: 'A-17' });
      expect(JSON.stringify(pushed.data)).not.toContain('internal-margin-42');
      const message = (await server.call('GET', `/v1/messages/${some.id}`)).body;
      expect(JSON.stringify(message)).not.toContain('internal-margin-42');
    } finally {
      stream.close();
    }
  });

  it('refuses what is not "all", "none" or a list of up to 50 keys, naming inboxData', async () => {
    const channels = [{ channel: 'in_app', template: { title: 'x' } }];
    const tooMany = Array.from({ length: 51 }, (_, i) => `k${i}`);
    for (const inboxData of ['some', 5, [''], tooMany, ['a', 'a'], { order: true }]) {
      const put = await server.call('PUT', '/v1/workflows/data-bad', { inboxData, channels });
      expect({ inboxData, status: put.status }).toEqual({ inboxData, status: 400 });
      expect(put.body.error.details.map((d: { path: string }) => d.path)).toContainEqual(
        expect.stringMatching(/^inboxData/),
      );
    }
    expect(
      (await server.call('PUT', '/v1/workflows/data-bad', { inboxData: tooMany.slice(0, 50), channels }))
        .status,
    ).toBe(200);
  });
});
