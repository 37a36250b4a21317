import type { MigrationFile } from './migration-files.ts';

/**
 * What `tidings doctor` reads from a database without changing it (opening a Store migrates, so
 * doctor looks through these instead): whether it answers, which migrations are still to apply,
 * and the clocks to compare.
 */
export interface DatabaseInspection {
  /** The migration files not recorded in schema_migrations (all of them on an empty database). */
  pending: string[];
  /** Applied migrations, of those recorded. */
  applied: number;
  /** When the last migration was applied (epoch ms), or null. */
  lastAppliedAt: number | null;
  /** The database server's clock (epoch ms) and the local time it was read at; null for SQLite. */
  serverClock: { serverNow: number; localNow: number; roundTripMs: number } | null;
}

/** The files `applied` (versions from schema_migrations) leaves out, by name. */
export function pendingOf(files: readonly MigrationFile[], applied: ReadonlySet<number>): string[] {
  return files.filter((file) => !applied.has(file.version)).map((file) => file.name);
}
