import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { callJson, cleanupChildren, runCli, startChild, tempDataDir } from '../helpers/child.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';

afterEach(cleanupChildren);

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe.runIf(postgresAvailable)('processes sharing one PostgreSQL database', () => {
  it('start together safely: one migration run, one generated key, one secret that every api honours', async () => {
    const url = await freshDatabaseUrl();
    // No TIDINGS_API_KEY and no TIDINGS_SECRET: both must be generated exactly once, by whoever wins.
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
  });

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
  });
});
