import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// API.md "Templates": PUT /v1/layouts/{key} {"mjml"|"html"} holding {{ content }}; email steps
// with "layout" are wrapped in it (MJML compiled once per version), the text part generated from
// the final HTML, and an event keeps the layout version current when it was accepted.

let server: TestServer;
let smtp: FakeSmtp;

const FRAME = `<mjml><mj-body><mj-section><mj-column>
  <mj-text>ACME HEADER</mj-text>
  <mj-text>{{ content }}</mj-text>
  <mj-text>ACME FOOTER</mj-text>
</mj-column></mj-section></mj-body></mjml>`;

beforeAll(async () => {
  [server, smtp] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS }),
    startFakeSmtp(),
  ]);
  await server.call('PUT', '/v1/integrations/mail', {
    channel: 'email',
    provider: 'smtp',
    config: { host: smtp.host, port: smtp.port, from: 'Acme <news@acme.example>' },
  });
});

afterAll(async () => {
  await Promise.all([server?.close(), smtp?.close()]);
});

describe('email layouts', () => {
  it('wraps the email in the compiled MJML layout, with a text part, pinned per event', async () => {
    const saved = await server.call('PUT', '/v1/layouts/brand', { mjml: FRAME });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ key: 'brand', version: 1, mjml: FRAME });
    expect(saved.body.compiledHtml).toMatch(/^<!doctype html>/i);
    expect((await server.call('GET', '/v1/layouts/brand')).body.version).toBe(1);

    const workflow = await server.call('PUT', '/v1/workflows/framed', {
      channels: [
        {
          channel: 'email',
          layout: 'brand',
          template: { subject: 'Hi', html: '<p>Hello {{ data.name }}</p>' },
        },
      ],
    });
    expect(workflow.status).toBe(200);
    const to = [{ subscriberId: 'lay_1', email: 'lay@example.com' }];
    const scheduled = await server.call('POST', '/v1/events', {
      workflow: 'framed',
      to,
      data: { name: 'Ada <3' },
      sendAt: new Date(Date.now() + 2_500).toISOString(),
    });
    // A new layout version applies to events accepted from now on.
    await server.call('PUT', '/v1/layouts/brand', { html: '<div>NEW FRAME {{content}}</div>' });
    const now = await server.call('POST', '/v1/events', { workflow: 'framed', to, data: { name: 'Bo' } });

    const [current] = await settledMessages(server, [now.body.eventId], 1);
    expect(current.content.html).toBe('<div>NEW FRAME <p>Hello Bo</p></div>');
    const [pinned] = await settledMessages(server, [scheduled.body.eventId], 1);
    expect(pinned.content.html).toContain('ACME HEADER');
    expect(pinned.content.html).toContain('<p>Hello Ada &lt;3</p>');
    expect(pinned.content.html).not.toContain('{{');

    const mails = await smtp.waitFor(2);
    const framed = mails.find((mail) => mail.html?.includes('ACME FOOTER'))!;
    expect(framed.text).toContain('ACME HEADER');
    expect(framed.text).toContain('Hello Ada <3');
    expect(framed.text).toContain('ACME FOOTER');
  });

  it('refuses a layout without {{ content }} once, an unknown layout and a layout outside email', async () => {
    const none = await server.call('PUT', '/v1/layouts/bad', { html: '<div>nothing</div>' });
    expect(none.status).toBe(400);
    expect(none.body.error.details[0].path).toBe('html');
    const twice = await server.call('PUT', '/v1/layouts/bad', { html: '{{ content }}{{content}}' });
    expect(twice.status).toBe(400);
    expect((await server.call('PUT', '/v1/layouts/bad', { html: 'x', mjml: 'y' })).status).toBe(400);
    expect((await server.call('GET', '/v1/layouts/bad')).status).toBe(404);

    const unknown = await server.call('PUT', '/v1/workflows/unframed', {
      channels: [{ channel: 'email', layout: 'nope', template: { subject: 's', html: 'h' } }],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].path).toBe('channels[0].layout');
    await server.call('PUT', '/v1/layouts/plain', { html: '<b>{{ content }}</b>' });
    const sms = await server.call('PUT', '/v1/workflows/unframed', {
      channels: [{ channel: 'sms', layout: 'plain', template: { body: 'b' } }],
    });
    expect(sms.status).toBe(400);
    expect(sms.body.error.details[0].path).toBe('channels[0].layout');
    // A layout frames html: an email step with a text template only would send it unframed.
    const textOnly = await server.call('PUT', '/v1/workflows/unframed', {
      channels: [{ channel: 'email', layout: 'plain', template: { subject: 's', text: 't' } }],
    });
    expect(textOnly.status).toBe(400);
    expect(textOnly.body.error.details[0]).toEqual({
      path: 'channels[0].layout',
      message: 'frames html: give this step an html or mjml template',
    });
    // One locale's html is enough.
    const someHtml = await server.call('PUT', '/v1/workflows/unframed', {
      channels: [
        {
          channel: 'email',
          layout: 'plain',
          template: { subject: 's', text: 't' },
          locales: { fr: { subject: 's', html: '<p>h</p>' } },
        },
      ],
    });
    expect(someHtml.status).toBe(200);
  });

  it('refuses an MJML layout whose html is too long to frame any email, naming mjml', async () => {
    // 41 KB of MJML that compiles to more than a million characters of html.
    const section = '<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>';
    const mjml = `<mjml><mj-body>${section.repeat(600)}<mj-section><mj-column><mj-text>{{ content }}</mj-text></mj-column></mj-section></mj-body></mjml>`;
    const put = await server.call('PUT', '/v1/layouts/huge', { mjml });
    expect(put.status).toBe(400);
    expect(put.body.error.details[0].path).toBe('mjml');
    expect(put.body.error.details[0].message).toMatch(
      /^compiles to \d+ characters of html; an email in its layout may have at most 1000000 in all$/,
    );
    expect((await server.call('GET', '/v1/layouts/huge')).status).toBe(404);
  });
});
