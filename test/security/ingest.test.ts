import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { countRows } from '../helpers/store-under-test.ts';

/**
 * Issue 9, ingest and request limits: findings 3, 7, 8 and 11, through the public API on the
 * store under test (SQLite, and PostgreSQL in the "postgres" project).
 */

let server: TestServer;
const OTHER_KEY = 'tdk_ingest_other_tenant_key_0000';

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('ten_other', 'Other');
  await addTenantKey(server.tidings.store, 'ten_other', OTHER_KEY, 'default');
  const workflow = { channels: [{ channel: 'in_app', template: { title: 'Hi', body: 'b' } }] };
  for (const key of [server.key, OTHER_KEY]) {
    const res = await server.call('PUT', '/v1/workflows/alert', workflow, { auth: key });
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

/** Rows an accepted event (or bulk) would add, read straight from the database. */
async function storedRows(): Promise<number> {
  const counts = await countRows(server.databaseUrl, ['events', 'idempotency_keys']);
  return counts.events! + counts.idempotency_keys!;
}

const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

/** Raw JSON bodies that once failed every event committed together with them. */
const HOSTILE_BODIES: { name: string; body: string; path: string }[] = [
  {
    name: '10,000 levels of nesting',
    body: `{"workflow":"alert","to":["h"],"data":{"a":${nested(10_000)}}}`,
    path: 'data.a',
  },
  {
    name: 'a NUL character',
    body: '{"workflow":"alert","to":["h"],"data":{"a":{"b":[0,1,2,"x\\u0000y"]}}}',
    path: 'data.a.b[3]',
  },
  {
    name: 'a lone surrogate',
    body: '{"workflow":"alert","to":["h"],"data":{"s":"\\ud800"}}',
    path: 'data.s',
  },
  {
    name: 'a NUL in a key',
    body: '{"workflow":"alert","to":["h"],"data":{"k\\u0000":1}}',
    path: 'data.k\u0000',
  },
  {
    name: 'a number JSON cannot keep',
    body: '{"workflow":"alert","to":["h"],"data":{"n":1e400}}',
    path: 'data.n',
  },
  {
    name: 'an integer above 2^53',
    body: '{"workflow":"alert","to":["h"],"data":{"n":9007199254740993}}',
    path: 'data.n',
  },
  { name: 'a NUL in a recipient id', body: '{"workflow":"alert","to":["a\\u0000b"]}', path: 'to[0]' },
];

describe("Finding 3 — one caller's bad input fails other callers' requests", () => {
  it.each(HOSTILE_BODIES)(
    'refuses an event with $name: 400 naming $path, nothing stored',
    async ({ body, path }) => {
      const before = await storedRows();
      const res = await server.call('POST', '/v1/events', body, { auth: OTHER_KEY });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details[0].path.startsWith(path)).toBe(true);
      expect(await storedRows()).toBe(before);
    },
  );

  it("answers every one of a tenant's events 202 while another tenant sends hostile bodies at the same time", async () => {
    // Rounds of requests fired together, so that the hostile ones are accepted in the same
    // group commit as the good ones (requests arriving in one tick share a transaction).
    const good: number[] = [];
    const hostile: number[] = [];
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.all([
        ...Array.from({ length: 10 }, (_, i) =>
          server.call('POST', '/v1/events', { workflow: 'alert', to: [`calm_${round}_${i}`] }),
        ),
        ...HOSTILE_BODIES.map(({ body }) => server.call('POST', '/v1/events', body, { auth: OTHER_KEY })),
      ]);
      good.push(...answers.slice(0, 10).map((r) => r.status));
      hostile.push(...answers.slice(10).map((r) => r.status));
    }
    expect(good.filter((status) => status !== 202)).toEqual([]);
    expect(hostile.filter((status) => status !== 400)).toEqual([]);
  });

  it('answers a bulk of 10 good events and one too deep with 202 and one error naming its path', async () => {
    const events = Array.from({ length: 10 }, (_, i) => ({ workflow: 'alert', to: [`bulk_${i}`] }));
    const deep = `{"workflow":"alert","to":["deep"],"data":{"a":${nested(40)}}}`;
    const body = `{"events":[${events.map((e) => JSON.stringify(e)).join(',')},${deep}]}`;
    const res = await server.call('POST', '/v1/events/bulk', body);
    expect(res.status).toBe(202);
    const results = res.body.results as {
      eventId?: string;
      error?: { code: string; details: { path: string }[] };
    }[];
    expect(results).toHaveLength(11);
    expect(results.slice(0, 10).every((r) => r.eventId?.startsWith('evt_'))).toBe(true);
    expect(results[10]!.error!.code).toBe('validation_failed');
    expect(results[10]!.error!.details[0]!.path).toMatch(/^events\[10\]\.data\.a(\[0\])+$/);
  });
});
