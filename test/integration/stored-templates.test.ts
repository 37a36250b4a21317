import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// Issue 12, finding 6c: a stored template that no longer parses must fail its message with
// template_error, as a render error does, not retry its job until it is dead. Syntax errors,
// refused tags and broken conditions already did (test/integration/pipeline.test.ts,
// conditions.test.ts); a step stored with no template object at all still threw while compiling,
// which failed the delivery job as a whole: no message, retries until dead.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe('a stored workflow whose templates no longer compile', () => {
  it.each([
    ['no template object', undefined],
    ['a null template', null],
    ['a list for a template', ['{{ data.n }}']],
  ])('with %s: that step fails template_error at once, the others are delivered', async (name, template) => {
    const key = `stored-${name.replace(/\W+/g, '-')}`;
    // Written past the API (which refuses it), as an older version could have stored it.
    await server.tidings.store.putWorkflow(
      'default',
      key,
      {
        channels: [
          { channel: 'in_app', template: { title: 'Fine {{ data.n }}', body: 'b' } },
          { channel: 'webhook', template } as never,
        ],
      },
      Date.now(),
    );
    const posted = await server.call('POST', '/v1/events', {
      workflow: key,
      to: ['stored_user'],
      data: { n: 1 },
    });
    expect(posted.status).toBe(202);
    const event = await waitFor(
      async () => {
        const found = await server.call('GET', `/v1/events/${posted.body.eventId}`);
        return found.body.status === 'completed' ? found.body : null;
      },
      'the event completed',
      5_000,
    );
    const byChannel = (channel: string) =>
      event.messages.find((m: { channel: string }) => m.channel === channel);
    const [fine, broken] = [byChannel('in_app'), byChannel('webhook')];
    expect(fine).toMatchObject({ status: 'delivered' });
    expect(broken).toMatchObject({ status: 'failed', reason: 'template_error' });
    const detail = broken.timeline.at(-1);
    expect(detail).toMatchObject({
      status: 'failed',
      detail: expect.stringMatching(/^template error: template/),
    });
    // Nothing left behind to retry or dead-letter.
    expect(await server.tidings.store.countJobs()).toMatchObject({ dead: 0 });
  });
});
