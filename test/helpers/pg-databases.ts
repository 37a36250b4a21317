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

/** A name of `prefix`, the time it was made and a random part: a sweep can tell its age. */
function stampedName(prefix: string, now: number): string {
  return `${prefix}${now.toString(36)}_${randomBytes(5).toString('hex')}`;
}

/** When a {@link stampedName} was made; null for a name without a time (an older format). */
function madeAt(prefix: string, name: string): number | null {
  if (!name.startsWith(prefix)) return null;
  const match = /^([0-9a-z]+)_[0-9a-f]+$/.exec(name.slice(prefix.length));
  return match ? Number.parseInt(match[1]!, 36) : null;
}

export function newTestDatabaseName(now = Date.now()): string {
  return stampedName(PREFIX, now);
}

/** Login roles some PostgreSQL tests make (test/postgres/inbox-relay-gap.test.ts), named like the databases. */
const ROLE_PREFIX = 'tidings_test_relay_';

export function newTestRoleName(now = Date.now()): string {
  return stampedName(ROLE_PREFIX, now);
}

/**
 * Drops what earlier runs left of one kind: each name `listing` answers (with whether it is in
 * use) that is stale by its time, or has none (an older format) and is not in use — that one may
 * belong to a run of an older checkout going on now. Answers how many went; without a PostgreSQL
 * server there is nothing to sweep.
 */
async function sweepStale(
  prefix: string,
  listing: string,
  drop: (client: pg.Client, name: string) => Promise<void>,
  now: number,
): Promise<number> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch {
    return 0;
  }
  try {
    const { rows } = await client.query<{ name: string; busy: boolean }>(listing);
    let dropped = 0;
    for (const { name, busy } of rows) {
      const made = madeAt(prefix, name);
      if (made === null ? busy : now - made < STALE_AFTER_MS) continue;
      try {
        await drop(client, name);
        dropped++;
      } catch {
        // Still holds something this sweep cannot reach: left to a later one.
      }
    }
    return dropped;
  } finally {
    await client.end();
  }
}

/**
 * Drops the test roles left by earlier runs. A role's privileges are in its test database
 * (dropped by then, or by the database sweep before this) and on shared objects, which DROP
 * OWNED revokes.
 */
export function sweepStaleTestRoles(now = Date.now()): Promise<number> {
  return sweepStale(
    ROLE_PREFIX,
    `SELECT r.rolname AS name, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.usename = r.rolname) AS busy
       FROM pg_roles r WHERE r.rolname LIKE '${ROLE_PREFIX}%'`,
    async (client, name) => {
      await client.query(`DROP OWNED BY "${name}"`);
      await client.query(`DROP ROLE IF EXISTS "${name}"`);
    },
    now,
  );
}

/** Drops the test databases left by earlier runs; answers how many. */
export function sweepStaleTestDatabases(now = Date.now()): Promise<number> {
  return sweepStale(
    PREFIX,
    `SELECT d.datname AS name, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname) AS busy
       FROM pg_database d WHERE d.datname LIKE '${PREFIX}%'`,
    async (client, name) => {
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
    now,
  );
}
