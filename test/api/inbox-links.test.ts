import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const put = await server.call('PUT', '/v1/workflows/comment', {
    channels: [
      {
        channel: 'in_app',
        template: {
          title: 'New comment',
          actionUrl: '{{ data.link }}',
          actions: [{ label: 'Reply', url: '{{ data.reply }}' }],
        },
      },
    ],
  });
  expect(put.status).toBe(200);
});

afterAll(() => server?.close());

/** The one inbox item an event with `data` leaves for a fresh subscriber. */
async function itemFor(subscriberId: string, data: Record<string, string>) {
  const sent = await server.call('POST', '/v1/events', { workflow: 'comment', to: [subscriberId], data });
  expect(sent.status).toBe(202);
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token as string;
  const item = await waitFor(async () => {
    const items = (await server.call('GET', '/v1/inbox', undefined, { auth: token })).body.items;
    return items?.[0] ?? null;
  }, 'the inbox item');
  return { item, token };
}

describe('in-app links from event data never run script in the inbox', () => {
  it.each([
    'javascript:alert(document.cookie)',
    ' JaVaScRiPt:alert(1)',
    'java\tscript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
  ])('%j is left out of actionUrl, actions and the click answer', async (link) => {
    const subscriberId = `s_${Buffer.from(link).toString('hex').slice(0, 40)}`;
    const { item, token } = await itemFor(subscriberId, { link, reply: link });
    expect(item.actionUrl).toBeNull();
    expect(item.actions).toEqual([]);
    expect(item.content).not.toHaveProperty('actionUrl');
    const click = await server.call('POST', `/v1/inbox/${item.id}/click`, {}, { auth: token });
    expect(click.status).toBe(200);
    expect(click.body.url).toBeNull();
  });

  it('keeps web links, relative links and app deep links', async () => {
    const { item, token } = await itemFor('deep_links', { link: 'myapp://thread/9', reply: '/t/9#reply' });
    expect(item.actionUrl).toBe('myapp://thread/9');
    expect(item.actions).toEqual([{ label: 'Reply', url: '/t/9#reply' }]);
    const click = await server.call('POST', `/v1/inbox/${item.id}/click`, { action: 0 }, { auth: token });
    expect(click.body.url).toBe('/t/9#reply');
  });

  it('refuses a click on an action the item does not have, saying which it has (422 naming action)', async () => {
    const { item, token } = await itemFor('one_action', { link: '/t/1', reply: '/t/1#reply' });
    const missing = await server.call('POST', `/v1/inbox/${item.id}/click`, { action: 1 }, { auth: token });
    expect(missing.status).toBe(422);
    expect(missing.body.error.details).toEqual([
      { path: 'action', message: "must be 0 or the label of the item's action" },
    ]);
    // Its only action was a script link, left out: the item has none.
    const { item: bare, token: bareToken } = await itemFor('no_actions', {
      link: '/t/2',
      reply: 'javascript:alert(1)',
    });
    const none = await server.call(
      'POST',
      `/v1/inbox/${bare.id}/click`,
      { action: 'Reply' },
      { auth: bareToken },
    );
    expect(none.status).toBe(422);
    expect(none.body.error.details).toEqual([
      { path: 'action', message: 'must be absent: the item has no actions' },
    ]);
  });
});
