import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INBOX_TIMELINE_ROOM } from '../../src/store/port.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: message views are read field by field and checked by assertions
type Json = any;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const put = await server.call('PUT', '/v1/workflows/timeline-note', {
    channels: [{ channel: 'in_app', template: { title: 'Note', actionUrl: 'https://app.example.test/n' } }],
  });
  expect(put.status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

/** A delivered inbox item of a new subscriber, and that subscriber's token. */
async function itemOf(subscriberId: string): Promise<{ id: string; token: string }> {
  const event = await server.call('POST', '/v1/events', { workflow: 'timeline-note', to: [subscriberId] });
  expect(event.status).toBe(202);
  const id = await waitFor(async () => {
    const view = await server.call('GET', `/v1/events/${event.body.eventId}`);
    const message = view.body.messages?.find((m: Json) => m.status === 'delivered');
    return message?.messageId ?? null;
  }, 'the inbox item');
  const token = (await server.call('POST', `/v1/subscribers/${subscriberId}/token`)).body.token;
  return { id, token };
}

const timelineOf = async (id: string): Promise<Json[]> =>
  (await server.call('GET', `/v1/messages/${id}`)).body.timeline;

/** Runs `times` calls one after another (the same item: they would only queue on its row). */
async function repeat(times: number, call: (i: number) => Promise<{ status: number }>) {
  for (let i = 0; i < times; i++) expect((await call(i)).status).toBe(200);
}

describe('Hostile input: inbox actions repeated by a subscriber token', () => {
  const beyond = INBOX_TIMELINE_ROOM + 20;

  it('clicks past the timeline room are recorded without growing the timeline; the first click moves the status', async () => {
    const { id, token } = await itemOf('tl-clicker');
    await repeat(beyond, () => server.call('POST', `/v1/inbox/${id}/click`, undefined, { auth: token }));
    const timeline = await timelineOf(id);
    expect(timeline.length).toBeLessThanOrEqual(INBOX_TIMELINE_ROOM);
    // The status changes are all there: delivered, then read and clicked by the first click.
    expect(timeline.filter((e: Json) => e.status === 'read')).toHaveLength(1);
    expect(timeline.filter((e: Json) => e.status === 'clicked').length).toBeGreaterThan(1);
    const message = (await server.call('GET', `/v1/messages/${id}`)).body;
    expect(message.status).toBe('clicked');
    // Still clickable: the answer is the item's URL.
    const click = await server.call('POST', `/v1/inbox/${id}/click`, undefined, { auth: token });
    expect(click.body.url).toBe('https://app.example.test/n');
  });

  it('reads after "unread", one by one or all at once, and snoozes stop adding entries at the room', async () => {
    const { id, token } = await itemOf('tl-reader');
    const as = { auth: token };
    await repeat(beyond, async (i) => {
      expect((await server.call('POST', `/v1/inbox/${id}/unread`, undefined, as)).status).toBe(200);
      return i % 2 === 0
        ? server.call('POST', `/v1/inbox/${id}/read`, undefined, as)
        : server.call('POST', '/v1/inbox/read-all', undefined, as);
    });
    const read = await timelineOf(id);
    expect(read.length).toBeLessThanOrEqual(INBOX_TIMELINE_ROOM);
    expect(read.filter((e: Json) => e.status === 'read').length).toBeGreaterThan(1);
    expect((await server.call('GET', `/v1/messages/${id}`)).body.status).toBe('read');

    const until = new Date(Date.now() + 3_600_000).toISOString();
    await repeat(10, () => server.call('POST', `/v1/inbox/${id}/snooze`, { until }, as));
    expect((await timelineOf(id)).length).toBeLessThanOrEqual(INBOX_TIMELINE_ROOM);
  });

  it('an item whose timeline is full still records the moves of its status', async () => {
    const { id, token } = await itemOf('tl-mover');
    const as = { auth: token };
    const until = new Date(Date.now() + 3_600_000).toISOString();
    await repeat(beyond, () => server.call('POST', `/v1/inbox/${id}/snooze`, { until }, as));
    expect(await timelineOf(id)).toHaveLength(INBOX_TIMELINE_ROOM);
    expect((await server.call('POST', `/v1/inbox/${id}/click`, undefined, as)).status).toBe(200);
    const timeline = await timelineOf(id);
    expect(timeline.slice(INBOX_TIMELINE_ROOM).map((e: Json) => e.status)).toEqual(['read', 'clicked']);
    expect((await server.call('POST', `/v1/inbox/${id}/archive`, undefined, as)).status).toBe(200);
    expect((await timelineOf(id)).at(-1).status).toBe('archived');
  });
});
