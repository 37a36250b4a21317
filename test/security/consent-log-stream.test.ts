import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestStall, readElsewhere } from '../helpers/event-loop.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A consent log grows with every change and is never cut. Found by the hostile-input sweep: `GET
 * /v1/subscribers/{id}/consent-log` built the whole log into one answer, and the export streamed
 * it without ever giving the event loop back (a reader on the same host takes all it is given):
 * 3,000 entries of 100 categories, which a tenant writes in 20 s, held every other caller
 * 0.25–0.4 s per read, and three reads at once over a second.
 */
describe('Hostile input: a long consent log', () => {
  let server: TestServer;
  const subscriber = 'long-log';
  const entries = 1_500;

  beforeAll(async () => {
    server = await startTestServer();
    // Written through the store, for speed: 1,500 changes of 250 categories (a few PATCHes' worth
    // each), some 30 MB of log.
    const categories = Array.from({ length: 250 }, (_, i) => `${i}-${'c'.repeat(60)}`);
    for (let i = 0; i < entries; i++) {
      const email = i % 2 === 1;
      await server.tidings.store.patchPreferences(
        'default',
        subscriber,
        { categories: Object.fromEntries(categories.map((c) => [c, { email }])) },
        Date.now(),
        { source: 'api', detail: null },
      );
    }
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  const readWhole = (route: string) => readElsewhere(`${server.url}${route}`, `Bearer ${server.key}`);

  it.each([
    ['the consent log', `/v1/subscribers/${subscriber}/consent-log`],
    ['the export', `/v1/subscribers/${subscriber}/export`],
  ])('%s is sent without holding the event loop', async (_, route) => {
    let answer = '';
    const stall = await longestStall(async () => {
      answer = await readWhole(route);
    });
    const [status, bytes] = answer.split(' ').map(Number);
    expect(status).toBe(200);
    expect(bytes).toBeGreaterThan(25_000_000);
    // Sent in one block, this log held the loop 0.6–1.3 s on SQLite (0.2 s on PostgreSQL, whose
    // reads give the loop back between pages).
    expect(stall).toBeLessThan(300);
  });

  it('answers every entry, oldest first, on one page', async () => {
    const log = await server.call('GET', `/v1/subscribers/${subscriber}/consent-log`);
    expect(log.status).toBe(200);
    expect(log.body.nextCursor).toBeNull();
    expect(log.body.items).toHaveLength(entries);
    const first = log.body.items[0].change.preferences.categories;
    expect(first['0-'.padEnd(62, 'c')]).toEqual({ email: false });
  });
});
