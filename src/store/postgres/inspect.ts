import pg from 'pg';
import { type DatabaseInspection, pendingOf } from '../inspection.ts';
import { migrationFiles } from '../migration-files.ts';
import { MIGRATIONS_DIR } from './migrate.ts';

/**
 * Reads the database's migrations and its clock on one short-lived connection, changing nothing
 * (no advisory lock, no CREATE TABLE).
 */
export async function inspectPostgres(url: string, timeoutMs = 5_000): Promise<DatabaseInspection> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'tidings doctor',
  });
  // A connection dropped after connect would otherwise be an unhandled 'error' event.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const sent = Date.now();
    const clock = await client.query<{ now: number }>(
      'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now',
    );
    const received = Date.now();
    const table = await client.query<{ name: string | null }>(
      "SELECT to_regclass('schema_migrations')::text AS name",
    );
    const rows =
      table.rows[0]?.name != null
        ? (
            await client.query<{ version: number; applied_at: string }>(
              'SELECT version, applied_at FROM schema_migrations',
            )
          ).rows
        : [];
    const applied = new Set(rows.map((row) => row.version));
    return {
      pending: pendingOf(migrationFiles(MIGRATIONS_DIR), applied),
      applied: applied.size,
      lastAppliedAt: rows.length > 0 ? Math.max(...rows.map((row) => Number(row.applied_at))) : null,
      serverClock: {
        serverNow: Number(clock.rows[0]!.now),
        localNow: (sent + received) / 2,
        roundTripMs: received - sent,
      },
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
