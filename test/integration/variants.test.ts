import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// API.md "Templates": a step's weighted `variants`, sticky per subscriber (a hash of subscriber
// and workflow), `meta.variant` on each message, and GET /v1/workflows/{key}/stats.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

const ab = {
  channels: [
    {
      channel: 'in_app',
      variants: [
        { name: 'a', weight: 50, template: { title: 'Variant A', body: 'a' } },
        { name: 'b', weight: 50, template: { title: 'Variant B', body: 'b' } },
      ],
    },
  ],
};

const recipients = Array.from({ length: 200 }, (_, i) => `ab_${i}`);

/** Subscriber → [variant in meta, title] of one event's 200 messages. */
async function variantsOf(eventId: string): Promise<Map<string, [string, string]>> {
  const items = await waitFor(async () => {
    const page = await server.call('GET', `/v1/messages?eventId=${eventId}&limit=200`);
    return page.body.items.length === 200 ? page.body.items : null;
  }, 'the 200 messages');
  return new Map(
    items.map((m: { subscriberId: string; meta: { variant: string }; content: { title: string } }) => [
      m.subscriberId,
      [m.meta.variant, m.content.title],
    ]),
  );
}

describe('A/B variants', () => {
  it('200 subscribers split about evenly, each keeps its variant, and stats count them', async () => {
    expect((await server.call('PUT', '/v1/workflows/ab', ab)).status).toBe(200);
    const first = await server.call('POST', '/v1/events', { workflow: 'ab', to: recipients, data: {} });
    const one = await variantsOf(first.body.eventId);
    const a = [...one.values()].filter(([variant]) => variant === 'a').length;
    expect(a).toBeGreaterThan(70);
    expect(a).toBeLessThan(130);
    for (const [variant, title] of one.values()) expect(title).toBe(`Variant ${variant.toUpperCase()}`);

    // A new version keeps each subscriber's variant (the hash is of subscriber and workflow).
    await server.call('PUT', '/v1/workflows/ab', { ...ab, name: 'again' });
    const second = await server.call('POST', '/v1/events', { workflow: 'ab', to: recipients, data: {} });
    const two = await variantsOf(second.body.eventId);
    for (const [subscriber, [variant]] of one) expect(two.get(subscriber)?.[0]).toBe(variant);

    const stats = await server.call('GET', '/v1/workflows/ab/stats');
    expect(stats.status).toBe(200);
    expect(stats.body.variants).toEqual([
      { name: 'a', total: 2 * a, statuses: { delivered: 2 * a } },
      { name: 'b', total: 2 * (200 - a), statuses: { delivered: 2 * (200 - a) } },
    ]);

    const preview = await server.call('POST', '/v1/workflows/ab/preview', { subscriberId: 'ab_0', data: {} });
    expect(preview.body.channels[0].variant).toBe(one.get('ab_0')![0]);
  });

  it('refuses variants beside a template, duplicate names and no weight at all', async () => {
    const both = await server.call('PUT', '/v1/workflows/ab-bad', {
      channels: [{ ...ab.channels[0], template: { title: 't', body: 'b' } }],
    });
    expect(both.status).toBe(400);
    expect(both.body.error.details[0].path).toBe('channels[0].variants');
    const twice = await server.call('PUT', '/v1/workflows/ab-bad', {
      channels: [
        {
          channel: 'in_app',
          variants: [
            { name: 'a', weight: 0, template: { title: 't', body: 'b' } },
            { name: 'a', weight: 0, template: { title: '{{ x', body: 'b' } },
          ],
        },
      ],
    });
    expect(twice.status).toBe(400);
    expect(twice.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'channels[0].variants[1].name',
      'channels[0].variants',
      'channels[0].variants[1].template.title',
    ]);
    const neither = await server.call('PUT', '/v1/workflows/ab-bad', { channels: [{ channel: 'in_app' }] });
    expect(neither.status).toBe(400);
    expect(neither.body.error.details[0].path).toBe('channels[0].template');
    expect((await server.call('GET', '/v1/workflows/ab-bad/stats')).status).toBe(404);
  });
});
