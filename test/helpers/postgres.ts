import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { withPostgres } from './pg-client.ts';

import { ADMIN_URL, newTestDatabaseName } from './pg-databases.ts';

/** The server the PostgreSQL tests use; each test gets a database of its own on it. */
export { ADMIN_URL };

async function probe(): Promise<string | null> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unavailable = await probe();
if (unavailable !== null) {
  if (process.env.CI) {
    throw new Error(`PostgreSQL is required in CI (${ADMIN_URL}): ${unavailable}`);
  }
  console.warn(
    `\n  PostgreSQL tests SKIPPED: no server at ${ADMIN_URL} (${unavailable}).\n  Set TIDINGS_TEST_POSTGRES_URL to run them.\n`,
  );
}

/** True when a PostgreSQL server answers (always true in CI, where a missing server fails the run). */
export const postgresAvailable = unavailable === null;

const created: string[] = [];

function urlFor(database: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

const admin = <T>(work: (client: pg.Client) => Promise<T>) => withPostgres(ADMIN_URL, work);

/** A new, empty database; dropped when the test file ends. */
export async function freshDatabaseUrl(): Promise<string> {
  const name = newTestDatabaseName();
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  created.push(name);
  return urlFor(name);
}

/**
 * A new database holding Tidings' schema, as opening a store on an empty one leaves it: a copy of
 * the run's migrated template (test/helpers/global-setup.ts); without one, an empty database the
 * store migrates when it opens. Dropped when the test file ends.
 */
export async function freshMigratedDatabaseUrl(): Promise<string> {
  const template = inject('postgresTemplate');
  if (!template) return freshDatabaseUrl();
  const name = newTestDatabaseName();
  await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  created.push(name);
  return urlFor(name);
}

// Dropping is housekeeping, not part of any test: a few at a time (each DROP waits on the disk),
// with room for a loaded machine, and a drop that fails is left to the next run's sweep
// (test/helpers/global-setup.ts) rather than failing the file.
const DROPS_AT_ONCE = 4;

afterAll(async () => {
  if (created.length === 0) return;
  const names = created.splice(0);
  const next = () => names.pop();
  await Promise.all(
    Array.from({ length: Math.min(DROPS_AT_ONCE, names.length) }, () =>
      admin(async (client) => {
        for (let name = next(); name !== undefined; name = next())
          await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      }).catch(() => undefined),
    ),
  );
}, 180_000);
