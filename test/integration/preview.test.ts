import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// API.md "Templates": POST /v1/workflows/{key}/preview renders as a send would, sending nothing.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await server.call('PUT', '/v1/subscribers/prev_es', { locale: 'es-MX', email: 'es@example.com' });
  await server.call('PUT', '/v1/workflows/prev', {
    messages: {
      en: { items: '{n, plural, one {# item} other {# items}}' },
      es: { items: '{n, plural, one {# artículo} other {# artículos}}' },
    },
    channels: [
      {
        channel: 'in_app',
        template: { title: '{{ "items" | t: n: data.n }}', body: '{{ data.total | currency: "USD" }}' },
      },
      {
        channel: 'email',
        template: { subject: 'Order', html: '<p>{{ data.note }}</p>' },
        locales: { es: { subject: 'Pedido' } },
      },
      { channel: 'sms', if: 'data.n > 5', template: { body: 'many' } },
    ],
  });
});

afterAll(async () => {
  await server?.close();
});

async function counts() {
  const messages = await server.call('GET', '/v1/messages?limit=200');
  const sandbox = await server.call('GET', '/v1/sandbox/messages?limit=500');
  return { messages: messages.body.items.length, sandbox: sandbox.body.items.length };
}

describe('workflow preview', () => {
  it('renders a stored subscriber exactly as the send does, and sends nothing', async () => {
    const before = await counts();
    const data = { n: 2, total: 1234.5, note: '<b>fast</b>' };
    const preview = await server.call('POST', '/v1/workflows/prev/preview', {
      subscriberId: 'prev_es',
      data,
    });
    expect(preview.status).toBe(200);
    expect(preview.body.channels).toEqual([
      { channel: 'in_app', content: { title: '2 artículos', body: expect.any(String) } },
      { channel: 'email', content: { subject: 'Pedido', html: '<p>&lt;b&gt;fast&lt;/b&gt;</p>' } },
      { channel: 'sms', content: null, skipped: 'condition false: data.n > 5' },
    ]);
    expect(await counts()).toEqual(before);

    // The send renders the same.
    const posted = await server.call('POST', '/v1/events', { workflow: 'prev', to: ['prev_es'], data });
    const sent = await settledMessages(server, [posted.body.eventId], 2);
    for (const channel of preview.body.channels.filter((c: { content: unknown }) => c.content)) {
      const message = sent.find((m) => m.channel === channel.channel);
      expect(message.content).toMatchObject(channel.content);
    }
  });

  it('renders an inline subscriber, with the locale given, and stores no subscriber', async () => {
    const preview = await server.call('POST', '/v1/workflows/prev/preview', {
      subscriber: { subscriberId: 'prev_inline', locale: 'fr-FR' },
      data: { n: 1, total: 2 },
      locale: 'en-GB',
    });
    expect(preview.status).toBe(200);
    expect(preview.body.channels[0].content).toEqual({ title: '1 item', body: 'US$2.00' });
    expect(preview.body.channels[1].content.subject).toBe('Order');
    expect((await server.call('GET', '/v1/subscribers/prev_inline')).status).toBe(404);
  });

  it('answers 404 for an unknown subscriber or workflow, 400 without exactly one recipient', async () => {
    const unknown = await server.call('POST', '/v1/workflows/prev/preview', {
      subscriberId: 'nobody',
      data: {},
    });
    expect(unknown.status).toBe(404);
    expect((await server.call('GET', '/v1/subscribers/nobody')).status).toBe(404);
    expect(
      (await server.call('POST', '/v1/workflows/nope/preview', { subscriberId: 'prev_es' })).status,
    ).toBe(404);
    expect((await server.call('POST', '/v1/workflows/prev/preview', { data: {} })).status).toBe(400);
    const both = await server.call('POST', '/v1/workflows/prev/preview', {
      subscriberId: 'prev_es',
      subscriber: { locale: 'es' },
    });
    expect(both.status).toBe(400);
  });
});
