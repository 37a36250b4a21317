import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import { migrationFiles } from '../migration-files.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** The newest schema version this build knows (a database beyond it was made by a newer Tidings). */
export function latestMigration(): number {
  return Math.max(0, ...migrationFiles(MIGRATIONS_DIR).map((m) => m.version));
}

/** Applies the numbered `migrations/NNN_name.sql` files not yet applied, each in its own transaction. */
export function migrate(db: Database.Database): string[] {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  const ran: string[] = [];
  for (const { version, name: file, sql } of migrationFiles(MIGRATIONS_DIR)) {
    if (applied.has(version)) continue;
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        version,
        file,
        Date.now(),
      );
    }).immediate();
    ran.push(file);
  }
  return ran;
}
