import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { callJson, cleanupChildren, runCli, startChild, tempDataDir } from '../helpers/child.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { openSse } from '../helpers/sse.ts';
import { waitFor } from '../helpers/wait.ts';

afterEach(cleanupChildren);

// biome-ignore lint/suspicious/noExplicitAny: events are read field by field and checked by assertions
type Json = any;

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  return withPostgres(url, async (client) => (await client.query<T>(text)).rows);
}

// Each test starts real processes one after another: on a machine busy with other test files one
// start can take tens of seconds, so these wait on conditions for up to two minutes in all.
describe.runIf(postgresAvailable)('processes sharing one PostgreSQL database', () => {
  it('start together safely: one migration run, one generated key, tokens that every api honours', async () => {
    const url = await freshDatabaseUrl();
    // No TIDINGS_API_KEY: it must be generated exactly once, by whoever wins. (TIDINGS_SECRET is
    // required on PostgreSQL: startChild gives every process the same one.)
    const dirs = [tempDataDir(), tempDataDir(), tempDataDir()];
    const apis = await Promise.all(
      dirs.map((dir) => startChild({ TIDINGS_DATABASE_URL: url, TIDINGS_DATA_DIR: dir }, { args: ['api'] })),
    );

    const migrations = await query<{ version: number }>(url, 'SELECT version FROM schema_migrations');
    expect(new Set(migrations.map((m) => m.version)).size).toBe(migrations.length);
    const keys = await query<{ n: number }>(
      url,
      `SELECT count(*)::INT AS n FROM api_keys WHERE tenant_id = 'default' AND label = 'default'`,
    );
    expect(keys[0]!.n).toBe(1);
    const keyFiles = dirs.map((dir) => path.join(dir, 'api-key')).filter((file) => existsSync(file));
    expect(keyFiles).toHaveLength(1);
    const key = readFileSync(keyFiles[0]!, 'utf8').trim();

    // The key works on every api, and a token minted by one api is honoured by the others.
    for (const api of apis) expect((await callJson(`${api.url}/v1/workflows`, 'GET', key)).status).toBe(200);
    const minted = await callJson(`${apis[0]!.url}/v1/subscribers/shared_user/token`, 'POST', key);
    expect(minted.status).toBe(200);
    for (const api of apis.slice(1)) {
      const inbox = await callJson(`${api.url}/v1/inbox`, 'GET', minted.body.token);
      expect(inbox.status).toBe(200);
    }
  }, 120_000);

  it('a key revoked through one api process is refused at once by another, which had its lookup cached', async () => {
    const url = await freshDatabaseUrl();
    const operator = 'tdk_operator_key_for_revocations_0123456789';
    const env = { TIDINGS_DATABASE_URL: url, TIDINGS_API_KEY: 'tdk_revocation_key_0123456789' };
    const [revoking, other] = await Promise.all(
      [0, 1].map(() =>
        startChild(
          { ...env, TIDINGS_OPERATOR_KEY: operator, TIDINGS_DATA_DIR: tempDataDir() },
          { args: ['api'] },
        ),
      ),
    );
    const made = await callJson(`${revoking!.url}/v1/tenants/default/keys`, 'POST', operator, {});
    expect(made.status).toBe(201);
    // Looked up (and cached for 10 s) by the other process.
    expect((await callJson(`${other!.url}/v1/workflows`, 'GET', made.body.apiKey)).status).toBe(200);
    const revoked = await callJson(
      `${revoking!.url}/v1/tenants/default/keys/${made.body.keyId}`,
      'DELETE',
      operator,
    );
    expect(revoked.status).toBe(204);
    await waitFor(
      async () => (await callJson(`${other!.url}/v1/workflows`, 'GET', made.body.apiKey)).status === 401,
      'the other process to refuse the revoked key',
      3_000,
      50,
    );
  });

  it("carries inbox changes between processes: a stream on one api hears of a worker's delivery and another api's read", async () => {
    const url = await freshDatabaseUrl();
    const key = 'tdk_inbox_relay_key_0123456789';
    const env = { TIDINGS_DATABASE_URL: url, TIDINGS_API_KEY: key };
    const [streaming, other] = await Promise.all([
      startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, { args: ['api'] }),
      startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, { args: ['api'] }),
    ]);
    await startChild(
      { ...env, TIDINGS_DATA_DIR: tempDataDir() },
      { args: ['worker'], portVariable: 'TIDINGS_WORKER_PORT' },
    );
    const workflow = {
      channels: [{ channel: 'in_app', template: { title: 'Relay {{ data.n }}', body: 'b' } }],
    };
    expect((await callJson(`${other.url}/v1/workflows/relay`, 'PUT', key, workflow)).status).toBe(200);
    const { token } = (await callJson(`${other.url}/v1/subscribers/relay_user/token`, 'POST', key)).body;

    const stream = await openSse(`${streaming.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    try {
      await stream.next('ready');
      const sent = await callJson(`${other.url}/v1/events`, 'POST', key, {
        workflow: 'relay',
        to: ['relay_user'],
        data: { n: 7 },
      });
      expect(sent.status).toBe(202);
      const created = await stream.next('item.created', 30_000);
      expect(created.data).toMatchObject({ item: { title: 'Relay 7' }, unreadCount: 1 });

      const read = await callJson(`${other.url}/v1/inbox/${created.data.item.id}/read`, 'POST', token);
      expect(read.status).toBe(200);
      const updated = await stream.next('item.updated', 30_000);
      expect(updated.data).toMatchObject({ item: { id: created.data.item.id }, unreadCount: 0 });
      // Each change arrives once, not once per relay path.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(stream.seen.map((e) => e.event)).toEqual(['ready', 'item.created', 'item.updated']);

      // Resume on the other api process: the change log is in the store, so it replays exactly what followed.
      const resumed = await openSse(`${other.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`, {
        'last-event-id': created.id!,
      });
      try {
        await resumed.next('ready');
        expect((await resumed.next('item.updated')).id).toBe(updated.id);
        expect(resumed.seen.map((e) => e.event)).toEqual(['ready', 'item.updated']);
      } finally {
        resumed.close();
      }

      // A WebSocket on the streaming api hears a worker's delivery too.
      const socket = new WebSocket(
        `${streaming.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`,
      );
      const events: { type: string; item?: { title: string } }[] = [];
      socket.on('message', (data) => events.push(JSON.parse(String(data))));
      try {
        await waitFor(() => events.some((e) => e.type === 'ready'), 'the socket to be ready');
        await callJson(`${other.url}/v1/events`, 'POST', key, {
          workflow: 'relay',
          to: ['relay_user'],
          data: { n: 8 },
        });
        await waitFor(
          () => events.some((e) => e.type === 'item.created' && e.item?.title === 'Relay 8'),
          'the item on the WebSocket',
          30_000,
        );
      } finally {
        socket.close();
      }
    } finally {
      stream.close();
    }
  }, 120_000);

  it('two api processes and a worker process: a WebSocket on api #2 gets the item an event posted to api #1 made, and reads made through api #1', async () => {
    const url = await freshDatabaseUrl();
    const key = 'tdk_inbox_ws_two_apis_0123456789';
    const env = { TIDINGS_DATABASE_URL: url, TIDINGS_API_KEY: key };
    const [api1, api2] = await Promise.all([
      startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, { args: ['api'] }),
      startChild({ ...env, TIDINGS_DATA_DIR: tempDataDir() }, { args: ['api'] }),
    ]);
    // Deliveries happen only in this process: neither api runs workers.
    await startChild(
      { ...env, TIDINGS_DATA_DIR: tempDataDir() },
      { args: ['worker'], portVariable: 'TIDINGS_WORKER_PORT' },
    );
    const workflow = {
      channels: [{ channel: 'in_app', template: { title: 'Two {{ data.n }}', body: 'b' } }],
    };
    expect((await callJson(`${api1.url}/v1/workflows/two`, 'PUT', key, workflow)).status).toBe(200);
    const { token } = (await callJson(`${api1.url}/v1/subscribers/ws_two/token`, 'POST', key)).body;
    const post = async (n: number) => {
      const sent = await callJson(`${api1.url}/v1/events`, 'POST', key, {
        workflow: 'two',
        to: ['ws_two'],
        data: { n },
      });
      expect(sent.status).toBe(202);
    };

    const socket = new WebSocket(
      `${api2.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`,
    );
    const events: Json[] = [];
    socket.on('message', (data) => events.push(JSON.parse(String(data))));
    const next = (type: string, what: string, after = 0) =>
      waitFor(() => events.find((e, i) => i >= after && e.type === type), what, 30_000);
    try {
      expect(await next('ready', 'ready')).toEqual({ type: 'ready', unreadCount: 0 });
      await post(1);
      const created = await next('item.created', 'the item made by the worker process');
      expect(created).toMatchObject({ item: { title: 'Two 1', readAt: null }, unreadCount: 1 });

      // Read through api #1 (HTTP): the client on api #2 sees it as item.updated.
      const read = await callJson(`${api1.url}/v1/inbox/${created.item.id}/read`, 'POST', token);
      expect(read.status).toBe(200);
      const updated = await next('item.updated', 'the read made through api #1');
      expect(updated).toMatchObject({ item: { id: created.item.id }, unreadCount: 0 });
      expect(updated.item.readAt).toEqual(expect.any(String));
      expect(Number(updated.id)).toBeGreaterThan(Number(created.id));

      // Two more items, then read-all sent as a message on a WebSocket of api #1.
      await post(2);
      await post(3);
      await waitFor(
        () => events.filter((e) => e.type === 'item.created').length === 3,
        'the next two items',
        30_000,
      );
      expect(events.at(-1)).toMatchObject({ type: 'item.created', unreadCount: 2 });
      const phone = new WebSocket(
        `${api1.url.replace(/^http/, 'ws')}/v1/inbox/ws?token=${encodeURIComponent(token)}`,
      );
      const phoneEvents: Json[] = [];
      phone.on('message', (data) => phoneEvents.push(JSON.parse(String(data))));
      try {
        await waitFor(() => phoneEvents.some((e) => e.type === 'ready'), 'the socket on api #1 to be ready');
        phone.send(JSON.stringify({ type: 'read-all' }));
        const readAll = await next('inbox.read-all', 'the read-all sent on api #1');
        expect(readAll).toMatchObject({ unreadCount: 0 });
      } finally {
        phone.close();
      }

      // A later item closes the run: anything sent twice before it would have arrived by then.
      await post(4);
      await waitFor(
        () => events.filter((e) => e.type === 'item.created').length === 4,
        'the fourth item',
        30_000,
      );
      // Each change arrived once, in log order, with nothing in between.
      const unread = await callJson(`${api2.url}/v1/inbox/unread-count`, 'GET', token);
      expect(unread.body).toEqual({ count: 1 });
      expect(events.map((e) => e.type)).toEqual([
        'ready',
        'item.created',
        'item.updated',
        'item.created',
        'item.created',
        'inbox.read-all',
        'item.created',
      ]);
      const ids = events.slice(1).map((e) => Number(e.id));
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      socket.close();
    }
  }, 120_000);

  it('migrate applies the schema to a fresh database, exits 0, and finds nothing to do the second time', async () => {
    const url = await freshDatabaseUrl();
    const env = { TIDINGS_DATABASE_URL: url, TIDINGS_DATA_DIR: tempDataDir() };
    const [first, second] = await Promise.all([runCli(['migrate'], env), runCli(['migrate'], env)]);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(first.stdout).toContain('migrations applied');
    const tables = await query<{ name: string }>(
      url,
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(['jobs', 'messages', 'events', 'subscribers']),
    );
    expect((await runCli(['migrate'], env)).code).toBe(0);
  }, 120_000);
});
