import path from 'node:path';
import Database from 'better-sqlite3';
import { sqliteEnv } from './child.ts';
import { withPostgres } from './pg-client.ts';

/**
 * The integration suite runs twice (see vitest.config.ts): on the embedded SQLite store, and on
 * PostgreSQL with TIDINGS_TEST_STORE=postgres. Tests ask for their database through here.
 */
export const STORE_UNDER_TEST: 'sqlite' | 'postgres' =
  process.env.TIDINGS_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** TIDINGS_DATABASE_URL and TIDINGS_DATA_DIR for a fresh installation of the store under test. */
export async function databaseEnv(dataDir: string): Promise<Record<string, string>> {
  if (STORE_UNDER_TEST === 'sqlite') return sqliteEnv(dataDir);
  const { freshDatabaseUrl } = await import('./postgres.ts');
  return { TIDINGS_DATABASE_URL: await freshDatabaseUrl(), TIDINGS_DATA_DIR: dataDir };
}

/** Counts the rows of `tables` straight from the database behind `databaseUrl`, bypassing Tidings. */
export async function countRows(databaseUrl: string, tables: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Database(path.resolve(databaseUrl.slice('sqlite:'.length)), { readonly: true });
    try {
      for (const table of tables)
        counts[table] = db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
    } finally {
      db.close();
    }
    return counts;
  }
  return withPostgres(databaseUrl, async (client) => {
    for (const table of tables) {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::INT AS n FROM ${table}`);
      counts[table] = rows[0]!.n;
    }
    return counts;
  });
}
