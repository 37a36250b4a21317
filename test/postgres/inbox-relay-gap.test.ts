import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { callJson, cleanupChildren, startChild, tempDataDir } from '../helpers/child.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { newTestRoleName } from '../helpers/pg-databases.ts';
import { ADMIN_URL, freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { openSse } from '../helpers/sse.ts';
import { waitFor } from '../helpers/wait.ts';

afterEach(cleanupChildren);

// biome-ignore lint/suspicious/noExplicitAny: events are read field by field and checked by assertions
type Json = any;

const admin = (sql: string) => withPostgres(ADMIN_URL, (client) => client.query(sql));

async function countOf(url: string, sql: string, params: unknown[] = []): Promise<number> {
  return withPostgres(url, async (client) => (await client.query<{ n: number }>(sql, params)).rows[0]!.n);
}

/** `promise`, or a failure naming `what` after `ms`. */
function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A WebSocket that keeps what it got, and how it closed. */
function openWs(url: string) {
  const socket = new WebSocket(url);
  const events: Json[] = [];
  socket.on('message', (data) => events.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const next = (type: string, what: string) =>
    waitFor(() => events.find((e) => e.type === type), what, 30_000);
  return { socket, events, closed, next };
}

/**
 * The api process whose inbox listener is cut off connects as a role of its own: the test finds
 * its LISTEN connection by that role, and keeps it from reconnecting (NOLOGIN) until the erasure
 * has been published, so the notice is lost for certain — not merely raced against the reconnect.
 */
describe.runIf(postgresAvailable)('the inbox relay across a LISTEN reconnect (PostgreSQL)', () => {
  it("an api process whose listener missed an erasure notice ends that subscriber's streams once it reconnects, and catches the others up", async () => {
    const url = await freshDatabaseUrl();
    const key = 'tdk_inbox_relay_gap_0123456789';
    const role = newTestRoleName();
    await admin(`CREATE ROLE ${role} LOGIN`);
    try {
      try {
        await runTest(url, key, role);
      } finally {
        await cleanupChildren();
      }
    } finally {
      // Its privileges in the test database first (and on it), then the role itself.
      await withPostgres(url, (client) => client.query(`DROP OWNED BY ${role}`)).catch(() => undefined);
      await admin(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    }
  }, 120_000);
});

/** The test's body (see above), as `role` for the second process. */
async function runTest(url: string, key: string, role: string) {
  // A: api + worker (makes the items, takes the erasure; it migrated the database). B: api
  // only, as `role`, which may use the tables and no more (CREATE on the schema: every process
  // runs the migrations' CREATE TABLE IF NOT EXISTS).
  const a = await startChild({
    TIDINGS_DATABASE_URL: url,
    TIDINGS_API_KEY: key,
    TIDINGS_DATA_DIR: tempDataDir(),
  });
  await withPostgres(url, async (client) => {
    await client.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${new URL(url).pathname.slice(1)} TO ${role}`);
    await client.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${role}`);
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
    await client.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  });
  const asRole = new URL(url);
  asRole.username = role;
  const b = await startChild(
    { TIDINGS_DATABASE_URL: asRole.toString(), TIDINGS_API_KEY: key, TIDINGS_DATA_DIR: tempDataDir() },
    { args: ['api'] },
  );
  const workflow = {
    channels: [{ channel: 'in_app', template: { title: 'Gap {{ data.n }}', body: 'b' } }],
  };
  expect((await callJson(`${a.url}/v1/workflows/gap`, 'PUT', key, workflow)).status).toBe(200);
  const tokenOf = async (id: string) =>
    (await callJson(`${a.url}/v1/subscribers/${id}/token`, 'POST', key)).body.token as string;
  const goneToken = await tokenOf('gone');
  const keptToken = await tokenOf('kept');
  const wsUrl = (token: string) =>
    `${b.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`;

  const gone = openWs(wsUrl(goneToken));
  const kept = openWs(wsUrl(keptToken));
  const goneSse = await openSse(`${b.url}/v1/inbox/stream?token=${encodeURIComponent(goneToken)}`);
  try {
    await gone.next('ready', "gone's socket ready");
    await kept.next('ready', "kept's socket ready");
    await goneSse.next('ready');
    const presenceOf = (id: string) =>
      countOf(url, 'SELECT count(*)::INT AS n FROM inbox_presence WHERE subscriber_id = $1', [id]);
    expect(await presenceOf('gone')).toBe(1);

    // Cut B's inbox listener off, and keep it off.
    const listenerOfB = `SELECT count(*)::INT AS n FROM pg_stat_activity
          WHERE usename = '${role}' AND application_name = 'tidings-listen' AND query = 'LISTEN tidings_inbox'`;
    expect(await countOf(url, listenerOfB)).toBe(1);
    await admin(`ALTER ROLE ${role} NOLOGIN`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE usename = '${role}' AND application_name = 'tidings-listen' AND query = 'LISTEN tidings_inbox'`);
    await waitFor(async () => (await countOf(url, listenerOfB)) === 0, "B's listener to be gone");

    // Meanwhile: `gone` is erased through A, and `kept` gets an item. B hears of neither.
    expect((await callJson(`${a.url}/v1/subscribers/gone`, 'DELETE', key)).status).toBe(202);
    const sent = await callJson(`${a.url}/v1/events`, 'POST', key, {
      workflow: 'gap',
      to: ['kept'],
      data: { n: 1 },
    });
    expect(sent.status).toBe(202);
    await waitFor(
      async () => (await callJson(`${a.url}/v1/inbox/unread-count`, 'GET', keptToken)).body.count === 1,
      "kept's item to be delivered",
      30_000,
    );
    // The erasure took the presence row with it, though B's stream of `gone` is still open.
    expect(gone.socket.readyState).toBe(WebSocket.OPEN);
    expect(await presenceOf('gone')).toBe(0);

    // B may reconnect now: its streams of `gone` end as the lost notice would have ended them,
    // and `kept`'s stream sends the item whose ring it missed.
    await admin(`ALTER ROLE ${role} LOGIN`);
    expect(await within(gone.closed, "gone's socket to close")).toEqual({
      code: 4401,
      reason: 'the subscriber was erased',
    });
    await within(goneSse.ended, "gone's SSE stream to end");
    expect(await kept.next('item.created', "kept's missed item")).toMatchObject({
      item: { title: 'Gap 1' },
      unreadCount: 1,
    });
    expect(gone.events.map((e) => e.type)).toEqual(['ready']);
    expect(kept.socket.readyState).toBe(WebSocket.OPEN);
    expect(await countOf(url, listenerOfB)).toBe(1);
    // Nothing of `gone` is left online, on any process.
    await waitFor(async () => (await presenceOf('gone')) === 0, "no presence row of 'gone'");
  } finally {
    gone.socket.close();
    kept.socket.close();
    goneSse.close();
  }
}
