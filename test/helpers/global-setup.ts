import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/store/postgres/migrate.ts';
import {
  ADMIN_URL,
  newTestDatabaseName,
  sweepStaleTestDatabases,
  sweepStaleTestRoles,
} from './pg-databases.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A database of this run holding every migration, which test databases are copied from; null without PostgreSQL. */
    postgresTemplate: string | null;
  }
}

interface RunSetup {
  template: string | null;
  dropTemplate: () => Promise<void>;
}

// Vitest calls this once per project (each inherits the file): the work is done once per run.
const RUN = Symbol.for('tidings.test.globalSetup');
const run = globalThis as { [RUN]?: Promise<RunSetup> };

/**
 * Once per `vitest run`, before any test file: databases that killed or crashed runs left on
 * the PostgreSQL server are dropped, so they neither pile up nor slow every CREATE DATABASE; and so are the login
 * roles such runs left. Then the template: copying a migrated database (~0.15 s) is cheaper than
 * migrating an empty one (~0.6 s), and the PostgreSQL suite makes a few hundred.
 */
async function setupRun(): Promise<RunSetup> {
  const dropped = await sweepStaleTestDatabases();
  if (dropped > 0) console.log(`dropped ${dropped} stale tidings_test_* databases`);
  // After the databases: a role's privileges there went with them.
  const roles = await sweepStaleTestRoles();
  if (roles > 0) console.log(`dropped ${roles} stale tidings_test_relay_* roles`);
  return migratedTemplate();
}

/** A database with the migrations applied, named like the test databases (a killed run's goes in a later sweep). */
async function migratedTemplate(): Promise<RunSetup> {
  const none = { template: null, dropTemplate: async () => undefined };
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch {
    return none; // no server: the PostgreSQL tests skip, or fail in CI (test/helpers/postgres.ts)
  }
  const name = newTestDatabaseName();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    // A pool of one, ended before any copy: CREATE DATABASE … TEMPLATE needs the template unused.
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    // Nobody connects to it again (autovacuum included), so no copy waits for it to be unused.
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
  } finally {
    await admin.end();
  }
  return {
    template: name,
    dropTemplate: async () => {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const first = run[RUN] === undefined;
  run[RUN] ??= setupRun();
  const { template, dropTemplate } = await run[RUN];
  project.provide('postgresTemplate', template);
  // Teardowns run once every file is done: the first call's drops the template.
  return first ? dropTemplate : async () => undefined;
}
