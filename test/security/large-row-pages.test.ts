import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_BYTES } from '../../src/api/sized-pages.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Workflow versions and workflows are listed with their whole definitions, each up to a request
 * body. Found by the hostile-input sweep: `GET /v1/workflows/{key}/versions?limit=100` over 100
 * versions of 0.9 MB read, parsed and answered 89 MB at once, holding the event loop — every
 * other tenant's requests — for 1.2–1.8 s (and `GET /v1/workflows?limit=200` could answer 200 such
 * definitions); `GET /v1/messages?limit=40` over messages of 1.6 MB answered 64 MB and held it
 * a second. A page now stops at about PAGE_BYTES of definitions or contents, fewer than `limit`,
 * with a cursor to the rest.
 */
describe('Hostile input: lists of large workflow definitions and messages', () => {
  let server: TestServer;
  // 9 fields of 99,000 characters: a definition of ~0.9 MB, within the 1 MB body.
  const big = { channels: [{ channel: 'webhook', template: fields('x') }] };
  const small = { channels: [{ channel: 'in_app', template: { title: 'hi' } }] };

  function fields(fill: string) {
    return Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, fill.repeat(99_000)]));
  }

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  /** Every page of `route` from the first: the pages' item counts, and the items in order. */
  async function readAll(route: string) {
    const sizes: number[] = [];
    const items: { version?: number; key?: string }[] = [];
    let cursor: string | null = null;
    do {
      const page = await server.call('GET', cursor ? `${route}&cursor=${cursor}` : route);
      expect(page.status, JSON.stringify(page.body.error)).toBe(200);
      sizes.push(page.body.items.length);
      items.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    return { sizes, items };
  }

  it('answers versions about a megabyte of definitions a page, the rest behind the cursor', async () => {
    // Small versions first: a page of those still holds `limit` of them.
    for (let i = 0; i < 3; i++)
      expect((await server.call('PUT', '/v1/workflows/heavy', small)).status).toBe(200);
    for (let i = 0; i < 12; i++)
      expect((await server.call('PUT', '/v1/workflows/heavy', big)).status).toBe(200);

    // All 15 were answered at once (for 100 versions of 0.9 MB: 89 MB, the loop held 1.2–1.8 s).
    const first = await server.call('GET', '/v1/workflows/heavy/versions?limit=100');
    expect(first.status).toBe(200);
    expect(first.body.items.length).toBe(Math.floor(PAGE_BYTES / 891_000));
    expect(first.body.items[0]).toMatchObject({ version: 15, current: true });
    expect(first.body.nextCursor).not.toBeNull();

    const { sizes, items } = await readAll('/v1/workflows/heavy/versions?limit=100');
    expect(items.map((v) => v.version)).toEqual(Array.from({ length: 15 }, (_, i) => 15 - i));
    // One large version a page (two pass the megabyte); the three small ones share the last.
    expect(sizes).toEqual([...Array.from({ length: 11 }, () => 1), 4]);
    // A limit below what fits is kept.
    const one = await server.call('GET', '/v1/workflows/heavy/versions?limit=1');
    expect(one.body.items.map((v: { version: number }) => v.version)).toEqual([15]);
    expect(one.body.nextCursor).not.toBeNull();
  }, 60_000);

  it('answers workflows about a megabyte of definitions a page, the rest behind the cursor', async () => {
    for (let i = 0; i < 6; i++)
      expect((await server.call('PUT', `/v1/workflows/big-${i}`, big)).status).toBe(200);
    for (let i = 0; i < 4; i++)
      expect((await server.call('PUT', `/v1/workflows/small-${i}`, small)).status).toBe(200);

    const first = await server.call('GET', '/v1/workflows?limit=200');
    expect(first.status).toBe(200);
    expect(first.body.items.length).toBe(Math.floor(PAGE_BYTES / 891_000));
    expect(first.body.nextCursor).not.toBeNull();

    const { items } = await readAll('/v1/workflows?limit=200');
    const keys = items.map((w) => w.key);
    expect(keys).toEqual([...keys].sort());
    expect(keys.filter((key) => key !== 'heavy')).toEqual([
      ...Array.from({ length: 6 }, (_, i) => `big-${i}`),
      ...Array.from({ length: 4 }, (_, i) => `small-${i}`),
    ]);
  }, 60_000);

  it('answers messages about a megabyte of contents a page, the rest behind the cursor', async () => {
    // Each message renders 1.6 MB (two fields of 800,000 characters, within MAX_MESSAGE_CHARS).
    const field = '{% for i in (1..4) %}{{ data.s }}{% endfor %}';
    const wide = { channels: [{ channel: 'in_app', template: { title: field, body: field } }] };
    expect((await server.call('PUT', '/v1/workflows/wide', wide)).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const sent = await server.call('POST', '/v1/events', {
        workflow: 'wide',
        to: ['reader'],
        data: { s: String(i).repeat(200_000) },
      });
      expect(sent.status).toBe(202);
    }
    const route = '/v1/messages?subscriberId=reader&limit=50';
    await waitFor(async () => {
      const { items } = await readAll(route);
      return items.length === 4 && items.every((m) => (m as { status: string }).status === 'delivered');
    }, 'four delivered messages');

    // All four were answered at once (for 200 such messages: 320 MB).
    const first = await server.call('GET', route);
    expect(first.body.items).toHaveLength(1);
    expect(first.body.items[0].content.title).toHaveLength(800_000);
    expect(first.body.nextCursor).not.toBeNull();
    const { sizes, items } = await readAll(route);
    expect(sizes).toEqual([1, 1, 1, 1]);
    expect(new Set(items.map((m) => (m as { messageId: string }).messageId)).size).toBe(4);

    // The subscriber's own inbox, read with their token, pages the same way (an item's view
    // holds its content twice: 40 such items were one 136 MB answer and a 2.5 s stall).
    const token = (await server.call('POST', '/v1/subscribers/reader/token')).body.token;
    const inboxSizes: number[] = [];
    const inboxIds: string[] = [];
    let cursor: string | null = null;
    do {
      const inboxPage = await server.call(
        'GET',
        `/v1/inbox?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        undefined,
        { auth: token },
      );
      expect(inboxPage.status, JSON.stringify(inboxPage.body.error)).toBe(200);
      inboxSizes.push(inboxPage.body.items.length);
      inboxIds.push(...inboxPage.body.items.map((item: { id: string }) => item.id));
      cursor = inboxPage.body.nextCursor;
    } while (cursor !== null);
    expect(inboxSizes).toEqual([1, 1, 1, 1]);
    expect(new Set(inboxIds).size).toBe(4);
  }, 60_000);

  it('answers sandbox captures about a megabyte of contents a page, the rest behind the cursor', async () => {
    // A channel without an integration goes to the sandbox, which keeps each message's content.
    const field = '{% for i in (1..4) %}{{ data.s }}{% endfor %}';
    const wide = { channels: [{ channel: 'webhook', template: { title: field, body: field } }] };
    expect((await server.call('PUT', '/v1/workflows/captured', wide)).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const sent = await server.call('POST', '/v1/events', {
        workflow: 'captured',
        to: ['watcher'],
        data: { s: String(i).repeat(200_000) },
      });
      expect(sent.status).toBe(202);
    }
    const route = '/v1/sandbox/messages?channel=webhook&limit=500';
    await waitFor(async () => (await readAll(route)).items.length === 3, 'three captures', 30_000, 100);

    // All three were answered at once (for 500 such captures: 800 MB).
    const first = await server.call('GET', route);
    expect(first.body.items).toHaveLength(1);
    expect(first.body.items[0].content.title).toHaveLength(800_000);
    expect(first.body.nextCursor).not.toBeNull();
    const { sizes, items } = await readAll(route);
    expect(sizes).toEqual([1, 1, 1]);
    const ids = items.map((c) => (c as { id: string }).id);
    expect(ids).toEqual([...new Set(ids)].sort().reverse());
    // A cursor this API did not issue is refused, naming it.
    const other = await server.call('GET', `/v1/sandbox/messages?cursor=${first.body.nextCursor}x`);
    expect(other.status).toBe(400);
    expect(JSON.stringify(other.body)).toContain('cursor');
  }, 60_000);
});
