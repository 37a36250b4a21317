import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: responses are read field by field and checked by assertions
type Json = any;

let mail: ServerWithMail;

beforeAll(async () => {
  mail = await startServerWithMail({ from: 'Acme <noreply@acme.example>' });
});

afterAll(async () => {
  await mail?.close();
});

/** Sends `workflow` to one subscriber and answers the email the SMTP server received. */
async function receivedFor(workflow: string, data: Record<string, unknown>) {
  const before = mail.smtp.received.length;
  const to = `${workflow}@example.com`;
  const sent = await mail.server.call('POST', '/v1/events', {
    workflow,
    to: [{ subscriberId: `reader-${workflow}`, email: to }],
    data,
  });
  expect(sent.status).toBe(202);
  return waitFor(
    () => mail.smtp.received.slice(before).find((m) => m.header('to')?.includes(to)),
    `the ${workflow} email`,
  );
}

/** API.md: "email steps may set `replyTo`" — on the step, as `layout` is, or as a template field. */
describe('email replyTo', () => {
  it('set on the step: every template of the step gets it, rendered', async () => {
    const put = await mail.server.call('PUT', '/v1/workflows/support-step', {
      channels: [
        {
          channel: 'email',
          replyTo: '{{ data.agent }} <support@acme.example>',
          template: { subject: 'Ticket', text: 'We answered' },
          locales: { fr: { subject: 'Ticket', text: 'Nous avons répondu' } },
        },
      ],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.channels[0].replyTo).toBe('{{ data.agent }} <support@acme.example>');
    const received = await receivedFor('support-step', { agent: 'Grace' });
    expect(received!.header('reply-to')).toBe('Grace <support@acme.example>');
  });

  it("a template's own replyTo field wins over the step's", async () => {
    const put = await mail.server.call('PUT', '/v1/workflows/support-field', {
      channels: [
        {
          channel: 'email',
          replyTo: 'desk@acme.example',
          template: { subject: 'Ticket', text: 'We answered', replyTo: 'billing@acme.example' },
        },
      ],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const received = await receivedFor('support-field', {});
    expect(received!.header('reply-to')).toBe('billing@acme.example');
  });

  it('is refused on other channels and when its template does not parse, naming it', async () => {
    const answer = await mail.server.call('PUT', '/v1/workflows/support-bad', {
      channels: [
        { channel: 'in_app', replyTo: 'desk@acme.example', template: { title: 'Hi' } },
        { channel: 'email', replyTo: '{{ data.agent ', template: { subject: 'S', text: 'T' } },
      ],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details.map((d: Json) => d.path)).toEqual([
      'channels[0].replyTo',
      'channels[1].replyTo',
    ]);
  });

  // Found by the acceptance audit: "replyTo": "not an address" was saved, and then failed every
  // email of the step at send. Written without Liquid it is known at PUT, as an integration's from is.
  it('written as plain text, must be an address or "Name <address>" at PUT (400 naming it); a template is checked at send', async () => {
    const answer = await mail.server.call('PUT', '/v1/workflows/support-literal', {
      channels: [
        {
          channel: 'email',
          replyTo: 'not an address',
          template: { subject: 'S', text: 'T', replyTo: 'Desk <desk@' },
          locales: { de: { subject: 'S', text: 'T', replyTo: 'Desk\r\nBcc: x@acme.example' } },
        },
      ],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details.map((d: Json) => d.path)).toEqual([
      'channels[0].template.replyTo',
      'channels[0].locales.de.replyTo',
      'channels[0].replyTo',
    ]);
    const fine = await mail.server.call('PUT', '/v1/workflows/support-literal', {
      channels: [
        {
          channel: 'email',
          replyTo: '"Acme, Support" <desk@acme.example>',
          template: { subject: 'S', text: 'T', replyTo: '{{ data.agent }} <desk@acme.example>' },
        },
      ],
    });
    expect(fine.status, JSON.stringify(fine.body)).toBe(200);
  });

  it('may name a message of the workflow, which must be in the default locale like any template field’s', async () => {
    const step = {
      channel: 'email',
      replyTo: '{{ "desk" | t }} <desk@acme.example>',
      template: { subject: 'S', text: 'T' },
    };
    const missing = await mail.server.call('PUT', '/v1/workflows/support-keyed', {
      messages: { fr: { desk: 'Le support' } },
      channels: [step],
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details).toEqual([
      {
        path: 'channels[0].replyTo',
        message: expect.stringContaining('message "desk" is not in the messages of the default locale (en)'),
      },
    ]);
    const put = await mail.server.call('PUT', '/v1/workflows/support-keyed', {
      messages: { en: { desk: 'Support desk' } },
      channels: [step],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const received = await receivedFor('support-keyed', {});
    expect(received!.header('reply-to')).toBe('Support desk <desk@acme.example>');
  });
});
