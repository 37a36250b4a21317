import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { TransferRefused } from './errors.ts';
import { columnNames, TABLES, type TableSpec } from './tables.ts';

/** The SQLite installation being copied, read through one snapshot. */
export interface SqliteSource {
  file: string;
  count(spec: TableSpec): number;
  /** The table's rows, streamed: only the row being read is in memory. */
  rows(spec: TableSpec): IterableIterator<Record<string, unknown>>;
  setting(key: string): string | undefined;
  /** Leases that have not run out yet: a sign the old installation is still running. */
  liveLeases(now: number): number;
  close(): void;
}

/**
 * Opens the file read-only — the copy must never change the installation it is rescuing — and
 * starts one read transaction for the whole copy. In WAL mode (which Tidings always uses) that is
 * a snapshot: every table is read as of the same moment, even if something still writes.
 */
export function openSqliteSource(file: string): SqliteSource {
  if (!existsSync(file)) throw new TransferRefused(`the SQLite database ${file} does not exist`);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
  } catch (error) {
    throw new TransferRefused(`cannot open ${file} as a SQLite database: ${(error as Error).message}`);
  }
  try {
    checkSchema(db, file);
    db.prepare('BEGIN').run();
  } catch (error) {
    db.close();
    // SQLite opens any file lazily: a file that is not a database only fails at the first read.
    if (error instanceof TransferRefused) throw error;
    throw new TransferRefused(`cannot read ${file} as a SQLite database: ${(error as Error).message}`);
  }
  return {
    file,
    count: (spec) => db.prepare(`SELECT COUNT(*) FROM ${spec.name}`).pluck().get() as number,
    rows: (spec) => {
      // A job's id is its rowid, so id order costs nothing, and ids reach PostgreSQL ascending.
      const order = spec.name === 'jobs' ? ' ORDER BY id' : '';
      const columns = columnNames(spec).map((c) => `"${c}"`);
      return db
        .prepare(`SELECT ${columns.join(', ')} FROM ${spec.name}${order}`)
        .iterate() as IterableIterator<Record<string, unknown>>;
    },
    setting: (key) =>
      db.prepare('SELECT value FROM settings WHERE key = ?').pluck().get(key) as string | undefined,
    liveLeases: (now) =>
      db
        .prepare(`SELECT COUNT(*) FROM jobs WHERE state = 'leased' AND lease_until > ?`)
        .pluck()
        .get(now) as number,
    close: () => {
      if (!db.open) return;
      if (db.inTransaction) db.prepare('COMMIT').run();
      db.close();
    },
  };
}

/** Every table and column the copy reads must be there; otherwise this is not (yet) a Tidings database. */
function checkSchema(db: Database.Database, file: string): void {
  for (const spec of TABLES) {
    const present = new Set(
      db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(spec.name) as string[],
    );
    if (present.size === 0) {
      throw new TransferRefused(
        `${file} is not a Tidings database (it has no "${spec.name}" table); ` +
          'start Tidings on it once, or run `tidings migrate` with TIDINGS_DATABASE_URL=sqlite:<path>, to create its tables',
      );
    }
    const missing = columnNames(spec).filter((c) => !present.has(c));
    if (missing.length > 0) {
      throw new TransferRefused(
        `${file}: table "${spec.name}" lacks column(s) ${missing.join(', ')}; ` +
          'run `tidings migrate` on it with this version of Tidings first',
      );
    }
  }
}
