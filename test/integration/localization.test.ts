import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// API.md "Templates: locales, messages…": a step's `locales` beside its template, the workflow's
// ICU `messages` through `t`, and filters formatted in the recipient's locale and time zone.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const subscribers: [string, Record<string, unknown>][] = [
    ['loc_mx', { locale: 'es-MX', timezone: 'America/Mexico_City' }],
    ['loc_fr', { locale: 'fr-FR', timezone: 'Europe/Paris' }],
    ['loc_none', {}],
  ];
  for (const [id, fields] of subscribers)
    expect((await server.call('PUT', `/v1/subscribers/${id}`, fields)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

const AT = '2026-03-10T15:30:00.000Z';
const localized = {
  messages: {
    en: { comments: '{count, plural, one {# new comment} other {# new comments}}' },
    es: { comments: '{count, plural, one {# comentario nuevo} other {# comentarios nuevos}}' },
  },
  channels: [
    {
      channel: 'in_app',
      template: {
        title: '{{ "comments" | t: count: data.count }}',
        body: 'Total {{ data.amount | currency: "EUR" }}, {{ data.at | datetime: "short" }}, {{ data.n | number }}',
      },
      locales: {
        es: { body: 'Total {{ data.amount | currency: "EUR" }} el {{ data.at | datetime: "short" }}' },
      },
    },
  ],
};

const formatted = (locale: string) =>
  new Intl.NumberFormat(locale, { style: 'currency', currency: 'EUR' }).format(1234.5);
const when = (locale: string, timeZone: string) =>
  new Intl.DateTimeFormat(locale, { dateStyle: 'short', timeStyle: 'short', timeZone }).format(
    Date.parse(AT),
  );

async function deliver(workflow: string, to: string, data: Record<string, unknown>, extra = {}) {
  const posted = await server.call('POST', '/v1/events', { workflow, to: [to], data, ...extra });
  expect(posted.status).toBe(202);
  const [message] = await settledMessages(server, [posted.body.eventId], 1);
  return message.content as { title: string; body: string };
}

describe('localized workflows', () => {
  it('an es-MX subscriber gets the es copy with its plural, a fr-FR one the default, each formatted in its own locale and zone', async () => {
    expect((await server.call('PUT', '/v1/workflows/loc-basic', localized)).status).toBe(200);
    const data = { count: 3, amount: 1234.5, at: AT, n: 1234567.891 };

    const mx = await deliver('loc-basic', 'loc_mx', data);
    expect(mx.title).toBe('3 comentarios nuevos');
    expect(mx.body).toBe(`Total ${formatted('es-MX')} el ${when('es-MX', 'America/Mexico_City')}`);

    const fr = await deliver('loc-basic', 'loc_fr', { ...data, count: 1 });
    // No French copy: the default template and the default locale's messages…
    expect(fr.title).toBe('1 new comment');
    // …with numbers and dates in French, on Paris time.
    expect(fr.body).toBe(
      `Total ${formatted('fr-FR')}, ${when('fr-FR', 'Europe/Paris')}, ${new Intl.NumberFormat('fr-FR').format(1234567.891)}`,
    );
    expect(fr.body).toContain('16:30');

    const none = await deliver('loc-basic', 'loc_none', { ...data, count: 1 });
    expect(none.title).toBe('1 new comment');
    expect(none.body).toBe(`Total €1,234.50, ${when('en', 'UTC')}, 1,234,567.891`);
  });

  it("shows a message's date and time arguments in the recipient's time zone, from ISO 8601 or epoch ms", async () => {
    // Found by the API.md audit: `{when, date}` / `{when, time}` inside a `t` message ignored the
    // recipient's zone (always the server's), and an ISO 8601 string, the form event data carries
    // dates in, failed the message with "Invalid time value".
    const put = await server.call('PUT', '/v1/workflows/loc-icu-dates', {
      messages: { en: { at: 'On {when, date, short} at {when, time, short}' } },
      channels: [
        {
          channel: 'in_app',
          template: {
            title: '{{ "at" | t: when: data.at }}',
            // Through LiquidJS (a tag), not the plain interpolation the title takes.
            body: '{% if data.at %}x{{ "at" | t: when: data.at }}{% endif %}',
          },
        },
      ],
    });
    expect(put.status).toBe(200);
    const on = (locale: string, timeZone: string) =>
      `On ${new Intl.DateTimeFormat(locale, { dateStyle: 'short', timeZone }).format(Date.parse(AT))} at ${new Intl.DateTimeFormat(locale, { timeStyle: 'short', timeZone }).format(Date.parse(AT))}`;
    const paris = await deliver('loc-icu-dates', 'loc_fr', { at: AT });
    // The fr-FR recipient falls back to the en message, formatted in en, on Paris time (16:30).
    expect(paris.title).toBe(on('en', 'Europe/Paris'));
    expect(paris.title).toContain('4:30');
    expect(paris.body).toBe(`x${on('en', 'Europe/Paris')}`);
    const utc = await deliver('loc-icu-dates', 'loc_none', { at: Date.parse(AT) });
    expect(utc.title).toBe(on('en', 'UTC'));
    expect(utc.title).toContain('3:30');
  });

  it("the event's locale wins over the subscriber's", async () => {
    await server.call('PUT', '/v1/workflows/loc-event', localized);
    const content = await deliver(
      'loc-event',
      'loc_fr',
      { count: 1, amount: 1, at: AT, n: 1 },
      { locale: 'es' },
    );
    expect(content.title).toBe('1 comentario nuevo');
  });

  it('an exact tag wins over its language, and defaultLocale is the last resort', async () => {
    const workflow = {
      defaultLocale: 'de',
      messages: {
        de: { hi: 'Hallo {name}' },
        'es-MX': { hi: '¡Quiúbole {name}!' },
        es: { hi: 'Hola {name}' },
      },
      channels: [
        {
          channel: 'in_app',
          template: { title: '{{ "hi" | t: name: subscriber.subscriberId }}', body: 'default' },
          locales: { 'es-mx': { body: 'mx' }, es: { body: 'es' }, de: { body: 'de' } },
        },
      ],
    };
    expect((await server.call('PUT', '/v1/workflows/loc-chain', workflow)).status).toBe(200);
    expect(await deliver('loc-chain', 'loc_mx', {})).toEqual({ title: '¡Quiúbole loc_mx!', body: 'mx' });
    expect(await deliver('loc-chain', 'loc_fr', {})).toEqual({ title: 'Hallo loc_fr', body: 'de' });
  });

  it('bad values print as they are; a bad argument fails only that message', async () => {
    await server.call('PUT', '/v1/workflows/loc-bad', {
      channels: [
        {
          channel: 'in_app',
          template: {
            title: '{{ data.x | number }}|{{ data.x | datetime: "long" }}|{{ data.x | currency: "EUR" }}',
            body: 'b',
          },
        },
      ],
    });
    expect((await deliver('loc-bad', 'loc_none', { x: 'soon' })).title).toBe('soon|soon|soon');

    await server.call('PUT', '/v1/workflows/loc-bad-arg', {
      channels: [
        { channel: 'in_app', template: { title: '{{ data.n | currency: data.code }}', body: 'b' } },
        { channel: 'webhook', template: { body: 'fine' } },
      ],
    });
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'loc-bad-arg',
      to: ['loc_none'],
      data: { n: 1, code: 'euro' },
    });
    const messages = await settledMessages(server, [posted.body.eventId], 2);
    const inApp = messages.find((m) => m.channel === 'in_app');
    expect(inApp).toMatchObject({ status: 'failed', reason: 'template_error' });
    expect(inApp.lastError).toMatch(/currency: needs a three-letter ISO 4217 code/);
    expect(messages.find((m) => m.channel === 'webhook').status).not.toBe('failed');
  });

  it('refuses at PUT: a message that does not parse, a key missing from the default locale, a bad tag', async () => {
    const broken = await server.call('PUT', '/v1/workflows/loc-refused', {
      ...localized,
      messages: { ...localized.messages, es: { comments: '{count, plural, one {# x}' } },
    });
    expect(broken.status).toBe(400);
    expect(broken.body.error.details).toEqual([
      { path: 'messages.es.comments', message: expect.stringMatching(/^is not an ICU message/) },
    ]);

    // A skeleton of 200 characters parses; a longer one is refused before it is parsed.
    const skeletons = (length: number) => ({
      messages: { en: { when: `{d, date, ::${'y'.repeat(length)}}` } },
      channels: [{ channel: 'in_app', template: { title: 't', body: 'b' } }],
    });
    expect((await server.call('PUT', '/v1/workflows/loc-skeleton', skeletons(200))).status).toBe(200);
    const long = await server.call('PUT', '/v1/workflows/loc-refused', skeletons(8000));
    expect(long.status).toBe(400);
    expect(long.body.error.details).toEqual([
      { path: 'messages.en.when', message: 'has a skeleton of 8000 characters (::…); at most 200' },
    ]);
    // Neither a quoted brace nor nesting in a plural hides one (`d`s are the slow kind to parse).
    for (const when of [
      `{d, date, ::d'}'${'d'.repeat(9000)}}`,
      `{n, plural, one {{d, date, ::${'d'.repeat(9000)}}} other {#}}`,
    ]) {
      const hidden = await server.call('PUT', '/v1/workflows/loc-refused', {
        messages: { en: { when } },
        channels: [{ channel: 'in_app', template: { title: 't', body: 'b' } }],
      });
      expect(hidden.status).toBe(400);
      expect(hidden.body.error.details[0].message).toMatch(/^has a skeleton of 900\d characters/);
    }

    const missing = await server.call('PUT', '/v1/workflows/loc-refused', {
      messages: { es: { only: 'solo' } },
      channels: [{ channel: 'in_app', template: { title: '{{ "only" | t }}', body: 'b' } }],
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details).toEqual([
      {
        path: 'channels[0].template.title',
        message: expect.stringContaining('message "only" is not in the messages of the default locale (en)'),
      },
    ]);

    const badTag = await server.call('PUT', '/v1/workflows/loc-refused', {
      channels: [
        { channel: 'in_app', template: { title: 't', body: 'b' }, locales: { 'not a tag': { body: 'x' } } },
      ],
    });
    expect(badTag.status).toBe(400);
    expect(badTag.body.error.details[0].path).toBe('channels[0].locales.not a tag');

    const badLiquid = await server.call('PUT', '/v1/workflows/loc-refused', {
      channels: [
        { channel: 'in_app', template: { title: 't', body: 'b' }, locales: { es: { body: '{{ data.x ' } } },
      ],
    });
    expect(badLiquid.status).toBe(400);
    expect(badLiquid.body.error.details[0].path).toBe('channels[0].locales.es.body');
    expect((await server.call('GET', '/v1/workflows/loc-refused')).status).toBe(404);
  });
});
