import { sweepStaleTestDatabases, sweepStaleTestRoles } from './pg-databases.ts';

/**
 * Once per `vitest run`, before any test file: databases that killed or crashed runs left on
 * the PostgreSQL server are dropped, so they neither pile up nor slow every CREATE DATABASE; and so are the login
 * roles such runs left.
 */
export default async function setup(): Promise<void> {
  const dropped = await sweepStaleTestDatabases();
  if (dropped > 0) console.log(`dropped ${dropped} stale tidings_test_* databases`);
  // After the databases: a role's privileges there went with them.
  const roles = await sweepStaleTestRoles();
  if (roles > 0) console.log(`dropped ${roles} stale tidings_test_relay_* roles`);
}
