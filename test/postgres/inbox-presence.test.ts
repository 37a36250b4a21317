import { request } from 'node:http';
import type { Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { withPostgres } from '../helpers/pg-client.ts';
import { postgresAvailable } from '../helpers/postgres.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer | null = null;
beforeAll(async () => {
  if (postgresAvailable) server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const count = (url: string, sql: string, params: unknown[] = []) =>
  withPostgres(url, async (client) => (await client.query<{ n: number }>(sql, params)).rows[0]!.n);

describe.runIf(postgresAvailable)('inbox presence (PostgreSQL)', () => {
  it('a client gone while its presence row was being written leaves no row behind', async () => {
    const { url, databaseUrl } = server!;
    const { token } = (await server!.call('POST', '/v1/subscribers/quick/token')).body;
    // The server's side of each connection, by the client's port.
    const sockets = new Map<number, Socket>();
    server!.tidings.app!.server.on('connection', (socket: Socket) => sockets.set(socket.remotePort!, socket));

    // Presence writes wait behind this lock: the stream is held while its row is being written.
    const locker = new pg.Client({ connectionString: databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE inbox_presence IN SHARE MODE');
      const stream = request(`${url}/v1/inbox/stream?token=${encodeURIComponent(token)}`, { agent: false });
      stream.on('error', () => undefined);
      stream.end();
      const client = await new Promise<Socket>((resolve) => stream.on('socket', resolve));
      await waitFor(
        async () =>
          (await count(
            databaseUrl,
            `SELECT count(*)::INT AS n FROM pg_stat_activity
              WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO inbox_presence%'
                AND datname = current_database()`,
          )) === 1,
        'the presence write to wait for the lock',
      );
      // The client goes; the server has seen its connection close before the write is done.
      const port = client.localPort!;
      stream.destroy();
      await waitFor(() => sockets.get(port)?.destroyed, 'the server to see the client gone');
      await locker.query('COMMIT');
    } finally {
      await locker.end();
    }
    await waitFor(
      async () =>
        (await count(databaseUrl, 'SELECT count(*)::INT AS n FROM inbox_presence WHERE subscriber_id = $1', [
          'quick',
        ])) === 0,
      'the row of the client that went to be released',
    );
  });
});
