import { describe, expect, it } from 'vitest';
import { withPostgres } from '../helpers/pg-client.ts';
import {
  ADMIN_URL,
  newTestDatabaseName,
  newTestRoleName,
  sweepStaleTestDatabases,
  sweepStaleTestRoles,
} from '../helpers/pg-databases.ts';
import { postgresAvailable } from '../helpers/postgres.ts';

const HOUR = 60 * 60 * 1000;

async function exists(name: string): Promise<boolean> {
  return withPostgres(ADMIN_URL, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  });
}

describe.skipIf(!postgresAvailable)('the sweep of test databases', () => {
  it('drops those a run left hours ago and keeps those a run may still be using', async () => {
    const now = Date.now();
    const stale = newTestDatabaseName(now - 4 * HOUR);
    const fresh = newTestDatabaseName(now - 10 * 60 * 1000);
    await withPostgres(ADMIN_URL, async (client) => {
      await client.query(`CREATE DATABASE ${stale}`);
      await client.query(`CREATE DATABASE ${fresh}`);
    });
    try {
      expect(await sweepStaleTestDatabases(now)).toBeGreaterThanOrEqual(1);
      expect(await exists(stale)).toBe(false);
      expect(await exists(fresh)).toBe(true);
    } finally {
      await withPostgres(ADMIN_URL, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${stale}`);
        await client.query(`DROP DATABASE IF EXISTS ${fresh}`);
      });
    }
  });

  it('drops the test roles a run left hours ago, its privileges on shared objects with them, and keeps new ones', async () => {
    const now = Date.now();
    const stale = newTestRoleName(now - 4 * HOUR);
    const fresh = newTestRoleName(now - 10 * 60 * 1000);
    const roleExists = (name: string) =>
      withPostgres(ADMIN_URL, async (client) => {
        const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
        return rowCount === 1;
      });
    await withPostgres(ADMIN_URL, async (client) => {
      await client.query(`CREATE ROLE ${stale} LOGIN`);
      await client.query(`CREATE ROLE ${fresh} LOGIN`);
      // A privilege on a database (a shared object), which alone would keep DROP ROLE from working.
      await client.query(`GRANT CONNECT ON DATABASE postgres TO ${stale}`);
    });
    try {
      expect(await sweepStaleTestRoles(now)).toBeGreaterThanOrEqual(1);
      expect(await roleExists(stale)).toBe(false);
      expect(await roleExists(fresh)).toBe(true);
    } finally {
      await withPostgres(ADMIN_URL, async (client) => {
        await client.query(`DROP OWNED BY ${stale}, ${fresh}`).catch(() => undefined);
        await client.query(`DROP ROLE IF EXISTS ${stale}`);
        await client.query(`DROP ROLE IF EXISTS ${fresh}`);
      });
    }
  });
});
