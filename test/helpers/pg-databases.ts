import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The per-file test databases on the PostgreSQL server: named with their creation time so a
 * sweep can tell a database some crashed or killed run left behind from one a run is using now.
 */
export const ADMIN_URL =
  process.env.TIDINGS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const PREFIX = 'tidings_test_';
/** Older than this, a test database belongs to no run still going (CI's limit is 90 minutes). */
const STALE_AFTER_MS = 3 * 60 * 60 * 1000;

export function newTestDatabaseName(now = Date.now()): string {
  return `${PREFIX}${now.toString(36)}_${randomBytes(5).toString('hex')}`;
}

/** Login roles some PostgreSQL tests make (test/postgres/inbox-relay-gap.test.ts), named like the databases. */
const ROLE_PREFIX = 'tidings_test_relay_';

export function newTestRoleName(now = Date.now()): string {
  return `${ROLE_PREFIX}${now.toString(36)}_${randomBytes(5).toString('hex')}`;
}

/**
 * Drops the test roles left by earlier runs: stale by their name's time, or named without one
 * (an older format) and not connected. A role's privileges are in its test database (dropped by
 * then, or by the database sweep before this) and on shared objects, which DROP OWNED revokes.
 */
export async function sweepStaleTestRoles(now = Date.now()): Promise<number> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch {
    return 0;
  }
  try {
    const { rows } = await client.query<{ rolname: string; busy: boolean }>(
      `SELECT r.rolname, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.usename = r.rolname) AS busy
       FROM pg_roles r WHERE r.rolname LIKE '${ROLE_PREFIX}%'`,
    );
    let dropped = 0;
    for (const { rolname, busy } of rows) {
      const match = /^tidings_test_relay_([0-9a-z]+)_[0-9a-f]+$/.exec(rolname);
      const made = match ? Number.parseInt(match[1]!, 36) : null;
      if (made === null ? busy : now - made < STALE_AFTER_MS) continue;
      try {
        await client.query(`DROP OWNED BY "${rolname}"`);
        await client.query(`DROP ROLE IF EXISTS "${rolname}"`);
        dropped++;
      } catch {
        // Still holds something in a database this sweep cannot reach: left to a later one.
      }
    }
    return dropped;
  } finally {
    await client.end();
  }
}

/** When the database was made, from its name; null for a name without a time (an older format). */
function createdAt(name: string): number | null {
  const match = /^tidings_test_([0-9a-z]+)_[0-9a-f]+$/.exec(name);
  return match ? Number.parseInt(match[1]!, 36) : null;
}

/**
 * Drops the test databases left by earlier runs (stale by their name's time, or named without
 * one); answers how many. Without a PostgreSQL server there is nothing to sweep.
 */
export async function sweepStaleTestDatabases(now = Date.now()): Promise<number> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch {
    return 0;
  }
  try {
    const { rows } = await client.query<{ datname: string; busy: boolean }>(
      `SELECT d.datname, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname) AS busy
       FROM pg_database d WHERE d.datname LIKE '${PREFIX}%'`,
    );
    let dropped = 0;
    for (const { datname, busy } of rows) {
      const made = createdAt(datname);
      // A name without a time may belong to a run of an older checkout going on now: only an idle one goes.
      if (made === null ? busy : now - made < STALE_AFTER_MS) continue;
      await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      dropped++;
    }
    return dropped;
  } finally {
    await client.end();
  }
}
