import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledMessages } from '../helpers/messages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// Ingest refuses NUL and lone surrogates in every input, but a filter can make them from clean
// input (`"a%00b" | url_decode`). PostgreSQL cannot store either: such a render fails its own
// message with template_error, on both stores, instead of failing its delivery's write for good.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe('rendered text no store can keep', () => {
  it('fails that message with template_error and delivers the rest', async () => {
    const put = await server.call('PUT', '/v1/workflows/nul-out', {
      channels: [
        { channel: 'in_app', template: { title: '{{ data.x | url_decode }}', body: 'b' } },
        { channel: 'webhook', template: { body: 'fine' } },
      ],
    });
    expect(put.status).toBe(200);
    // (A lone surrogate fails the same way: test/unit/templates/engine.test.ts.)
    for (const data of [{ x: 'a%00b' }, { x: '%00' }]) {
      const posted = await server.call('POST', '/v1/events', { workflow: 'nul-out', to: ['nul_u1'], data });
      expect(posted.status).toBe(202);
      const messages = await settledMessages(server, [posted.body.eventId], 2);
      const inApp = messages.find((m) => m.channel === 'in_app');
      expect(inApp).toMatchObject({ status: 'failed', reason: 'template_error' });
      expect(inApp.lastError).toMatch(/^template error: title rendered text that must not contain/);
      expect(messages.find((m) => m.channel === 'webhook').status).not.toBe('failed');
    }
  });

  it('fails a digest whose key renders such text, and the event completes', async () => {
    const put = await server.call('PUT', '/v1/workflows/nul-digest', {
      digest: { window: '1s', key: '{{ data.x | url_decode }}' },
      channels: [{ channel: 'in_app', template: { title: '{{ count }}', body: 'b' } }],
    });
    expect(put.status).toBe(200);
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'nul-digest',
      to: ['nul_u2'],
      data: { x: 'a%00b' },
    });
    expect(posted.status).toBe(202);
    const event = await waitFor(async () => {
      const view = (await server.call('GET', `/v1/events/${posted.body.eventId}`)).body;
      return view.status === 'completed' ? view : null;
    }, 'the event completed');
    expect(event.messages).toMatchObject([{ channel: 'in_app', status: 'failed', reason: 'template_error' }]);
  });
});

describe('html that cannot make a text part', () => {
  it('fails its email with template_error when built, not each send as a provider error; a preview says so', async () => {
    // 19,999 nested elements: html-to-text walks them recursively and runs out of stack.
    const html = `${'<div>'.repeat(19_999)}x`;
    const put = await server.call('PUT', '/v1/workflows/deep-html', {
      channels: [
        { channel: 'email', template: { subject: 'Deep', html } },
        { channel: 'in_app', template: { title: 'fine' } },
      ],
    });
    expect(put.status).toBe(200);
    const posted = await server.call('POST', '/v1/events', {
      workflow: 'deep-html',
      to: [{ subscriberId: 'deep_u1', email: 'deep_u1@example.com' }],
    });
    expect(posted.status).toBe(202);
    const messages = await settledMessages(server, [posted.body.eventId], 2);
    const email = messages.find((m) => m.channel === 'email');
    expect(email).toMatchObject({ status: 'failed', reason: 'template_error' });
    expect(email.lastError).toBe('template error: html nests its elements too deeply to make a text part of');
    expect(messages.find((m) => m.channel === 'in_app').status).toBe('delivered');

    const preview = await server.call('POST', '/v1/workflows/deep-html/preview', { subscriberId: 'deep_u1' });
    expect(preview.status).toBe(200);
    expect(preview.body.channels[0]).toMatchObject({
      channel: 'email',
      content: null,
      error: { reason: 'template_error' },
    });
  });
});
