import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_BYTES } from '../../src/api/sized-pages.ts';
import type { Store } from '../../src/store/port.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** A large row's JSON: about a megabyte, so two pass PAGE_BYTES. */
const LARGE = 1_000_000;

/**
 * Lists of rows that may each be as large as a request body stop a page at about PAGE_BYTES.
 * Found by review of that bound: the pages were read in batches sized from the mean row read so
 * far, so a tenant whose newest rows were a few tiny ones before many large ones made one batch
 * read every large row at once — 3 tiny and 45 messages of 1.6 MB: 72 MB read and parsed for
 * `GET /v1/messages?limit=200`, 200–400 ms of event loop held from every tenant. The stores now
 * read a page a row at a time and stop at the bound. Counted here as what each store read
 * answers, which no machine's speed moves.
 */
describe('Hostile input: a few tiny rows before many large ones', () => {
  let server: TestServer;
  /** Each list read of the store: its rows, and their JSON's length. */
  const reads: { rows: number; bytes: number }[] = [];
  const tenantId = 'default';
  const tiny = (i: number) => ({ title: `tiny ${i}` });
  const large = (i: number) => ({ body: String(i % 10).repeat(LARGE) });

  beforeAll(async () => {
    server = await startTestServer({}, ['api']);
    const { store } = server.tidings;
    await store.upsertSubscriber(tenantId, 'hoarder', {}, 1);
    // Oldest (last listed) first: the large rows, then the tiny ones, which are listed first.
    const contents = [...Array.from({ length: 10 }, (_, i) => large(i)), ...[0, 1, 2].map(tiny)];
    for (const [i, content] of contents.entries()) {
      const id = String(i).padStart(2, '0');
      await store.createMessages([
        {
          record: messageRecord({ tenantId, id: `msg_in_${id}`, subscriberId: 'hoarder', content }),
          followUp: null,
        },
        {
          record: messageRecord({
            tenantId,
            id: `msg_dead_${id}`,
            channel: 'webhook',
            status: 'dead',
            content,
          }),
          followUp: null,
        },
      ]);
      await store.saveSandboxCapture({
        tenantId,
        id: `cap_${id}`,
        messageId: `msg_dead_${id}`,
        channel: 'webhook',
        to: 'https://hooks.example.test',
        content,
        createdAt: 1,
      });
      // Workflows are listed by key: the tiny ones (`a-…`) before the large ones (`b-…`).
      const definition = { channels: [], note: content };
      await store.putWorkflow(tenantId, i < 10 ? `b-${id}` : `a-${id}`, definition, 1);
      await store.putWorkflow(tenantId, 'versions', definition, 1);
    }
    countReads(store);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  /** Records what every list read of the store answers (the routes call this same object). */
  function countReads(store: Store) {
    const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const name of Object.keys(store)) {
      const read = methods[name];
      if (!/^(list|page)/.test(name) || typeof read !== 'function') continue;
      methods[name] = async (...args: unknown[]) => {
        const answer = await read.apply(store, args);
        const rows = Array.isArray(answer) ? answer : (answer as { rows?: unknown[] } | null)?.rows;
        if (rows)
          reads.push({
            rows: rows.length,
            bytes: rows.reduce((n: number, r) => n + JSON.stringify(r).length, 0),
          });
        return answer;
      };
    }
  }

  /** Every page of `route`: each page's item count, and the store reads each page made. */
  async function readAll(route: string, auth?: string) {
    const sizes: number[] = [];
    const pageReads: { rows: number; bytes: number }[][] = [];
    let cursor: string | null = null;
    do {
      reads.length = 0;
      const join = route.includes('?') ? '&' : '?';
      const page = await server.call(
        'GET',
        cursor ? `${route}${join}cursor=${encodeURIComponent(cursor)}` : route,
        undefined,
        auth === undefined ? {} : { auth },
      );
      expect(page.status, JSON.stringify(page.body.error)).toBe(200);
      sizes.push(page.body.items.length);
      pageReads.push([...reads]);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    return { sizes, pageReads };
  }

  it.each([
    ['/v1/messages?subscriberId=hoarder&limit=200'],
    ['/v1/inbox?limit=100'],
    ['/v1/dead-letters?limit=200'],
    ['/v1/sandbox/messages?limit=500'],
    ['/v1/workflows?limit=200'],
    ['/v1/workflows/versions/versions?limit=100'],
  ])('%s reads about a megabyte a page, however its rows are ordered', async (route) => {
    const auth = route.startsWith('/v1/inbox')
      ? (await server.call('POST', '/v1/subscribers/hoarder/token')).body.token
      : undefined;
    const { sizes, pageReads } = await readAll(route, auth);
    // The three tiny rows and one large one, then a large one a page (two pass PAGE_BYTES). The
    // workflows list ends with two: the large `b-09` and `versions` (its current definition tiny).
    const last = route.startsWith('/v1/workflows?') ? [2] : [1];
    expect(sizes).toEqual([4, ...Array.from({ length: 8 }, () => 1), ...last]);
    for (const page of pageReads) {
      // Within the bound: the first page read 10 MB at once (72 MB for 45 messages of 1.6 MB).
      expect(Math.max(...page.map((read) => read.bytes))).toBeLessThanOrEqual(PAGE_BYTES + 1000);
      // And in one read of the list (the first page read two, then a batch).
      expect(page).toHaveLength(1);
    }
  });

  it("reads about a megabyte a query for a subscriber's export, however the messages are ordered", async () => {
    reads.length = 0;
    const exported = await server.call('GET', '/v1/subscribers/hoarder/export');
    expect(exported.status).toBe(200);
    expect(exported.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual(
      Array.from({ length: 13 }, (_, i) => `msg_in_${String(12 - i).padStart(2, '0')}`),
    );
    // Its second query read 10 MB at once: as many as fit at the mean size of the first two.
    expect(Math.max(...reads.map((read) => read.bytes))).toBeLessThanOrEqual(PAGE_BYTES + 1000);
  });

  it('reads a page of small inbox items in one query', async () => {
    for (let i = 0; i < 50; i++)
      await server.tidings.store.createMessages([
        {
          record: messageRecord({
            tenantId,
            id: `msg_small_${String(i).padStart(2, '0')}`,
            subscriberId: 'reader',
          }),
          followUp: null,
        },
      ]);
    const token = (await server.call('POST', '/v1/subscribers/reader/token')).body.token;
    reads.length = 0;
    const page = await server.call('GET', '/v1/inbox?limit=50', undefined, { auth: token });
    expect(page.body.items).toHaveLength(50);
    expect(page.body.nextCursor).toBeNull();
    // Two before: two items to learn their size, then the rest.
    expect(reads.map((read) => read.rows)).toEqual([50]);
  });
});
