import Database from 'better-sqlite3';

/** What readiness reads: the schema, a tenant, the ready end of the job queue (what every claim walks). */
const PROBE_QUERIES = [
  'SELECT count(*) FROM sqlite_schema',
  'SELECT 1 FROM tenants LIMIT 1',
  "SELECT min(run_at) FROM jobs WHERE state = 'ready'",
];

/**
 * The store's readiness probe. A connection keeps up to 64 MiB of pages cached and trusts them
 * while no one commits, so a file damaged under it can go unnoticed by its own queries; the probe
 * reads through a connection of its own, opened for the occasion, so the pages come from the
 * file. (An in-memory database has no file to damage: its one connection is used.)
 */
export function sqliteProbe(file: string, db: Database.Database): () => Promise<void> {
  const run = (connection: Database.Database) => {
    for (const sql of PROBE_QUERIES) connection.prepare(sql).get();
  };
  return async () => {
    if (file === ':memory:') return run(db);
    const fresh = new Database(file, { readonly: true, fileMustExist: true });
    try {
      run(fresh);
    } finally {
      fresh.close();
    }
  };
}
