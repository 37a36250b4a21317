import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { type DatabaseInspection, pendingOf } from '../inspection.ts';
import { migrationFiles } from '../migration-files.ts';
import { MIGRATIONS_DIR } from './migrate.ts';

/** The database file is not there: nothing was ever migrated into it. */
export class NoDatabaseFile extends Error {}

/**
 * Reads the SQLite file's migrations read-only (a running server's writes are not disturbed,
 * and a missing file is reported, not created).
 */
export function inspectSqlite(file: string): DatabaseInspection {
  if (!existsSync(file)) throw new NoDatabaseFile(`no database file at ${file}`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // Reads a page of the file: a file that is not a database fails here.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    const hasTable = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
      .get();
    const rows = hasTable
      ? (db.prepare('SELECT version, applied_at FROM schema_migrations').all() as {
          version: number;
          applied_at: number;
        }[])
      : [];
    const applied = new Set(rows.map((row) => row.version));
    return {
      pending: pendingOf(migrationFiles(MIGRATIONS_DIR), applied),
      applied: applied.size,
      lastAppliedAt: rows.length > 0 ? Math.max(...rows.map((row) => row.applied_at)) : null,
      serverClock: null,
    };
  } finally {
    db.close();
  }
}
