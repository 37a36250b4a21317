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

/**
 * Like {@link databaseEnv}, for a server about to open it: on PostgreSQL the database already holds
 * the schema (copied from the run's template, cheaper than migrating), as its start would leave it.
 */
export async function migratedDatabaseEnv(dataDir: string): Promise<Record<string, string>> {
  if (STORE_UNDER_TEST === 'sqlite') return sqliteEnv(dataDir);
  const { freshMigratedDatabaseUrl } = await import('./postgres.ts');
  return { TIDINGS_DATABASE_URL: await freshMigratedDatabaseUrl(), TIDINGS_DATA_DIR: dataDir };
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

/** A job waiting in the queue, read straight from the database (tests check what is scheduled when). */
export interface QueuedJob {
  kind: string;
  runAt: number;
  payload: Record<string, unknown>;
}

/** The jobs of `kind` waiting (state `ready`) in the database behind `databaseUrl`, by run time. */
export async function queuedJobs(
  databaseUrl: string,
  kind: string,
  /** Also the jobs a worker holds (running): a job is gone only once neither. */
  options: { leased?: boolean } = {},
): Promise<QueuedJob[]> {
  const states = options.leased ? `('ready', 'leased')` : `('ready')`;
  const sql = `SELECT kind, run_at, payload FROM jobs WHERE state IN ${states} AND kind = $1 ORDER BY run_at, id`;
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Database(path.resolve(databaseUrl.slice('sqlite:'.length)), { readonly: true });
    try {
      const rows = db.prepare(sql.replace('$1', '?')).all(kind) as {
        kind: string;
        run_at: number;
        payload: string;
      }[];
      return rows.map((row) => ({ kind: row.kind, runAt: row.run_at, payload: JSON.parse(row.payload) }));
    } finally {
      db.close();
    }
  }
  return withPostgres(databaseUrl, async (client) => {
    const { rows } = await client.query<{ kind: string; run_at: string; payload: Record<string, unknown> }>(
      sql,
      [kind],
    );
    return rows.map((row) => ({ kind: row.kind, runAt: Number(row.run_at), payload: row.payload }));
  });
}

/** Runs `sql` (literals only, read alike by both dialects) straight on the database behind `databaseUrl`. */
export async function execSql(databaseUrl: string, sql: string): Promise<void> {
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Database(path.resolve(databaseUrl.slice('sqlite:'.length)));
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  await withPostgres(databaseUrl, async (client) => {
    await client.query(sql);
  });
}
