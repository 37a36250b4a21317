import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestStall } from '../helpers/event-loop.ts';
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

  it('renders a digest workflow as the digest of the one event, as a send of it does', async () => {
    await server.call('PUT', '/v1/workflows/prev_digest', {
      digest: { window: '1s', key: '{{ data.thread }}' },
      channels: [
        {
          channel: 'in_app',
          template: {
            title: '{{ count }} new on {{ data.thread }}',
            body: '{% for e in events %}{{ e.n }};{% endfor %}{{ events | size }}',
          },
        },
        {
          // A fallback after the digest's message renders the same digest.
          channel: 'email',
          fallback: { after: '1s', unless: 'read' },
          template: { subject: '{{ count }} updates', text: 'all {{ events | map: "n" | join: "," }}' },
        },
      ],
    });
    const data = { thread: 't', n: 7 };
    const preview = await server.call('POST', '/v1/workflows/prev_digest/preview', {
      subscriberId: 'prev_es',
      data,
    });
    expect(preview.status).toBe(200);
    expect(preview.body.channels).toEqual([
      { channel: 'in_app', content: { title: '1 new on t', body: '7;1' } },
      { channel: 'email', content: { subject: '1 updates', text: 'all 7' } },
    ]);

    // The send: one event's digest closes a second later, its email a second after that.
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'prev_digest',
      to: [{ subscriberId: 'prev_es', email: 'es@example.com' }],
      data,
    });
    const sent = await settledMessages(server, [posted.body.eventId], 2);
    for (const channel of preview.body.channels) {
      const message = sent.find((m) => m.channel === channel.channel);
      expect(message.content).toEqual(channel.content);
    }
  });

  it('renders links.unsubscribe and links.preferences as the send does, not as empty text', async () => {
    // Found by the API.md audit: the preview's scope had no `links`, so a footer's unsubscribe and
    // preference links rendered "" in the preview and as URLs in the send.
    await server.call('PUT', '/v1/workflows/prev_links', {
      category: 'news',
      channels: [
        {
          channel: 'email',
          template: {
            subject: 'News',
            html: '<a href="{{ links.unsubscribe }}">u</a> <a href="{{ links.preferences }}">p</a>',
          },
        },
      ],
    });
    const preview = await server.call('POST', '/v1/workflows/prev_links/preview', {
      subscriberId: 'prev_es',
      data: {},
    });
    expect(preview.status).toBe(200);
    const html: string = preview.body.channels[0].content.html;
    const links = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(links[0]).toMatch(/^http:\/\/[^/]+\/v1\/unsubscribe\/[\w.-]+$/);
    expect(links[1]).toMatch(/^http:\/\/[^/]+\/v1\/preferences-page\?token=[\w.-]+$/);

    const posted = await server.call('POST', '/v1/events', {
      workflow: 'prev_links',
      to: ['prev_es'],
      data: {},
    });
    const [sent] = await settledMessages(server, [posted.body.eventId], 1);
    // The same unsubscribe link (its token names the same subscriber and category).
    expect(sent.content.html).toContain(`href="${links[0]}"`);
    expect(sent.content.html).toContain(`href="${links[1]!.split('?')[0]}?token=`);
  });

  it('renders for an unknown subscriber as a send would (empty, and stored nowhere)', async () => {
    const unknown = await server.call('POST', '/v1/workflows/prev/preview', {
      subscriberId: 'nobody',
      data: { n: 1, total: 5 },
    });
    expect(unknown.status, JSON.stringify(unknown.body)).toBe(200);
    const inApp = unknown.body.channels.find((c: { channel: string }) => c.channel === 'in_app');
    expect(inApp.content).toMatchObject({ title: '1 item', body: '$5.00' });
    expect((await server.call('GET', '/v1/subscribers/nobody')).status).toBe(404);
  });

  it('answers 404 for an unknown workflow, 400 without exactly one recipient', async () => {
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

  // Each step runs into its render budget (and its one retry): ~100 ms of synchronous work a step.
  const SLOW = '{% for i in (1..data.n) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}done';
  const slowSteps = (count: number) =>
    Array.from({ length: count }, () => ({ channel: 'in_app', template: { title: SLOW, body: SLOW } }));

  it("gives the event loop back between a slow preview's steps: no stall of the whole preview", async () => {
    await server.call('PUT', '/v1/workflows/prev_slow', { channels: slowSteps(10) });
    // The server runs in this process: a timer every 5 ms measures its event loop's longest stall.
    let answer: Awaited<ReturnType<typeof server.call>> | undefined;
    const stall = await longestStall(async () => {
      answer = await server.call('POST', '/v1/workflows/prev_slow/preview', {
        subscriberId: 'prev_es',
        data: { n: 400 },
      });
    });
    expect(answer?.status).toBe(200);
    expect(answer?.body.channels).toHaveLength(10);
    expect(answer?.body.channels[0].error.reason).toBe('template_timeout');
    // Each step stops at its render budget and one retry (~100 ms of wall time, however loaded the
    // machine); without the yields the ten ran as one block of a second or more.
    expect(stall).toBeLessThan(500);
  });

  it("gives the event loop back between one tenant's queued previews too, not only between steps", async () => {
    // Found by the hostile-input sweep: one-step slow previews queued behind another rendered back
    // to back in one macrotask (each turn starts as the one before ends), so another tenant's
    // request waited for all of them — API.md: other tenants never wait for them.
    await server.call('PUT', '/v1/workflows/prev_slow_first', { channels: slowSteps(8) });
    await server.call('PUT', '/v1/workflows/prev_slow1', { channels: slowSteps(1) });
    const preview = (key: string) =>
      server.call('POST', `/v1/workflows/${key}/preview`, { subscriberId: 'prev_es', data: { n: 400 } });
    const others: number[] = [];
    let answers: Awaited<ReturnType<typeof preview>>[] = [];
    const stall = await longestStall(async () => {
      // The first renders for ~1 s, yielding between its steps: the four one-step ones queue behind it.
      const queued = Promise.all([
        preview('prev_slow_first'),
        ...Array.from({ length: 4 }, () => preview('prev_slow1')),
      ]);
      // Meanwhile another caller's requests, one after another, each timed.
      let done = false;
      const otherCalls = (async () => {
        while (!done) {
          const started = performance.now();
          expect((await server.call('GET', '/v1/workflows/prev')).status).toBe(200);
          others.push(performance.now() - started);
        }
      })();
      answers = await queued.finally(() => {
        done = true;
      });
      await otherCalls;
    });
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers[1]!.body.channels[0].error.reason).toBe('template_timeout');
    // One step is ~100 ms of synchronous work (its budget and one retry); the four queued ones
    // ran as one block of 400 ms or more.
    expect(stall).toBeLessThan(300);
    // A request needs a few turns of the event loop: with one turn between steps each turn cost it
    // a whole step (~100 ms), and every one waited two steps or more (~210 ms); after each slow
    // step the loop is now left free long enough for it, so most wait for none or one.
    expect(others.length).toBeGreaterThan(3);
    const median = [...others].sort((a, b) => a - b)[Math.floor(others.length / 2)]!;
    expect(median).toBeLessThan(150);
  });

  it("runs one tenant's previews one at a time, four waiting at most: more answer 429", async () => {
    // Long enough (~1 s) for all seven to arrive while the first renders.
    await server.call('PUT', '/v1/workflows/prev_slow2', { channels: slowSteps(10) });
    const answers = await Promise.all(
      Array.from({ length: 7 }, () =>
        server.call('POST', '/v1/workflows/prev_slow2/preview', {
          subscriberId: 'prev_es',
          data: { n: 400 },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.body.error.code).toBe('rate_limited');
    expect(refused.headers.get('retry-after')).toBe('1');
    // Once they are done, the next one is taken again.
    const after = await server.call('POST', '/v1/workflows/prev/preview', {
      subscriberId: 'prev_es',
      data: {},
    });
    expect(after.status).toBe(200);
  });

  it('answers 422 naming the step once the steps together answer more than a preview may', async () => {
    const big = '{{ data.s }}';
    await server.call('PUT', '/v1/workflows/prev_big', {
      channels: [0, 1, 2].map(() => ({ channel: 'in_app', template: { title: big, body: big } })),
    });
    // ~2 MB of JSON a step: within a message's limit each, 6 MB together.
    const answer = await server.call('POST', '/v1/workflows/prev_big/preview', {
      subscriberId: 'prev_es',
      data: { s: 'x'.repeat(990_000) },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe('unprocessable');
    expect(answer.body.error.details[0].path).toBe('channels[2]');
    expect(answer.body.error.message).toContain('4000000');

    // Counted in bytes of JSON: a control character is six (\u0001), so a small request that
    // loops one is refused, not answered with tens of megabytes.
    await server.call('PUT', '/v1/workflows/prev_control', {
      channels: [0, 1, 2, 3].map(() => ({
        channel: 'in_app',
        // 500,000 characters a step: 3 MB of JSON.
        template: { title: '{{ data.c }}'.repeat(50), body: 'b' },
      })),
    });
    const control = await server.call('POST', '/v1/workflows/prev_control/preview', {
      subscriberId: 'prev_es',
      data: { c: '\u0001'.repeat(10_000) },
    });
    expect(control.status).toBe(422);
    expect(control.body.error.details[0].path).toBe('channels[1]');
    expect(control.body.error.message).toMatch(/bytes of JSON/);
  });
});
