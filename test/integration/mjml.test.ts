import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSmtp } from '../fakes/smtp.ts';
import { type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import type { TestServer } from '../helpers/server.ts';

let setup: ServerWithMail;
let server: TestServer;
let smtp: FakeSmtp;

const MJML = `<mjml><mj-body><mj-section><mj-column>
  <mj-text>Hello {{ subscriber.data.name }}, you have {{ data.count }} new replies.</mj-text>
  <mj-button href="https://app.example/t/{{ data.thread }}">Open</mj-button>
</mj-column></mj-section></mj-body></mjml>`;

beforeAll(async () => {
  setup = await startServerWithMail({ from: 'Acme <news@acme.example>' });
  ({ server, smtp } = setup);
});

afterAll(() => setup?.close());

const put = (key: string, channels: unknown[]) => server.call('PUT', `/v1/workflows/${key}`, { channels });

describe('MJML email templates', () => {
  it('compiles once at PUT into html, rendered per message with a generated text part', async () => {
    const saved = await put('replies', [{ channel: 'email', template: { subject: 'Replies', mjml: MJML } }]);
    expect(saved.status).toBe(200);
    const stored = (await server.call('GET', '/v1/workflows/replies')).body;
    expect(stored.channels[0].template.mjml).toBe(MJML);
    expect(stored.channels[0].template.html).toMatch(/^<!doctype html>/i);
    expect(stored.channels[0].template.html).toContain('{{ subscriber.data.name }}');

    const sent = await server.call('POST', '/v1/events', {
      workflow: 'replies',
      to: [{ subscriberId: 'ann', email: 'ann@example.com', data: { name: 'Ann <3' } }],
      data: { count: 4, thread: 't-9' },
    });
    expect(sent.status).toBe(202);
    const [mail] = await smtp.waitFor(1);
    // Rendered by Liquid after MJML: the name is HTML-escaped in the html part.
    expect(mail!.html).toContain('Hello Ann &lt;3, you have 4 new replies.');
    expect(mail!.html).toContain('href="https://app.example/t/t-9"');
    expect(mail!.text).toContain('Hello Ann <3, you have 4 new replies.');
    expect(mail!.raw).not.toContain('<mj-');
  });

  it('refuses MJML that does not compile, MJML outside email steps, and never reads included files', async () => {
    const broken = await put('broken', [
      {
        channel: 'email',
        template: { subject: 'x', mjml: '<mjml><mj-body><mj-colum></mj-colum></mj-body></mjml>' },
      },
    ]);
    expect(broken.status).toBe(400);
    expect(broken.body.error.details[0]).toMatchObject({
      path: 'channels[0].template.mjml',
      message: expect.stringMatching(/mj-colum/),
    });
    const sms = await put('sms-mjml', [{ channel: 'sms', template: { body: 'x', mjml: MJML } }]);
    expect(sms.status).toBe(400);
    expect(sms.body.error.details[0].path).toBe('channels[0].template.mjml');

    const include = await put('include', [
      {
        channel: 'email',
        template: {
          subject: 'x',
          mjml: '<mjml><mj-body><mj-include path="/etc/passwd" type="html" /></mj-body></mjml>',
        },
      },
    ]);
    expect(include.status).toBe(200);
    expect(include.body.channels[0].template.html).not.toContain('root:');

    // Liquid the MJML carries into its html is checked there, and named by the MJML.
    const liquid = await put('liquid-include', [
      {
        channel: 'email',
        template: {
          subject: 'x',
          mjml: "<mjml><mj-body><mj-section><mj-column><mj-text>{% include 'other' %}</mj-text></mj-column></mj-section></mj-body></mjml>",
        },
      },
    ]);
    expect(liquid.status).toBe(400);
    expect(liquid.body.error.details[0]).toMatchObject({
      path: 'channels[0].template.mjml',
      message: expect.stringMatching(/^in the html it compiles to: {% include %}/),
    });
  });
});
