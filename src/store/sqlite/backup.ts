import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makePrivateDir, restrictExistingFiles } from '../../security/file-modes.ts';
import { latestMigration } from './migrate.ts';

/**
 * A backup or restore that will not go ahead because of what it found (a file in the way, a
 * server using the database, a file that is not a Tidings database): nothing was changed.
 */
export class BackupRefused extends Error {
  override name = 'BackupRefused';
}

export interface BackupProgress {
  totalPages: number;
  remainingPages: number;
}

/** Pages copied per step of the online backup (4 MiB of 4 KiB pages): small enough to show progress. */
const PAGES_PER_STEP = 1024;

/** Every SQLite file that belongs to the database at `file`. */
const walFiles = (file: string) => [`${file}-wal`, `${file}-shm`];

/** A temporary name beside `file` (same folder, so a rename into place is atomic). */
function tempBeside(file: string): string {
  return path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
}

function removeIfThere(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function fsyncPath(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whether two paths name the same file (either may not exist yet). */
function sameFile(a: string, b: string): boolean {
  try {
    const [sa, sb] = [statSync(a), statSync(b)];
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
}

/** The schema versions a database has applied; null when it has no migrations table. */
function appliedVersions(db: Database.Database): number[] | null {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!table) return null;
  return db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
}

/**
 * Copies the database at `source` into a new file at `target` with SQLite's online backup: a
 * server may keep running and writing (in WAL mode readers and writers do not block each other).
 * The copy is made beside `target` under a temporary name and moved into place once complete, so
 * `target` is never half-written; without `overwrite` an existing `target` is refused, even one
 * that appears while the copy runs. Answers the pages copied.
 */
export async function backupSqliteDatabase(options: {
  source: string;
  target: string;
  overwrite: boolean;
  onProgress?: (progress: BackupProgress) => void;
}): Promise<{ pages: number; bytes: number }> {
  const { source, target, overwrite, onProgress } = options;
  if (!existsSync(source)) throw new BackupRefused(`there is no database at ${source}`);
  if (sameFile(source, target) || walFiles(source).some((f) => sameFile(f, target)))
    throw new BackupRefused(`${target} is the database itself: back it up to another file`);
  if (existsSync(target)) {
    if (statSync(target).isDirectory())
      throw new BackupRefused(`${target} is a folder: name the backup file, e.g. ${target}/tidings.db`);
    if (!overwrite)
      throw new BackupRefused(`${target} exists: choose another file, or add --force to replace it`);
  }
  if (!existsSync(path.dirname(target)))
    throw new BackupRefused(`the folder ${path.dirname(target)} does not exist`);

  // Read-only: the backup must never change the installation it copies.
  let db: Database.Database;
  try {
    db = new Database(source, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    if (appliedVersions(db) === null) throw new BackupRefused(`${source} is not a Tidings database`);
  } catch (error) {
    if (error instanceof BackupRefused) throw error;
    throw new BackupRefused(`cannot read ${source} as a SQLite database: ${(error as Error).message}`);
  }
  const temp = tempBeside(target);
  try {
    let lastRemaining = Number.POSITIVE_INFINITY;
    const result = await db.backup(temp, {
      progress: (progress) => {
        onProgress?.(progress);
        // Another process (the running server) wrote between two steps: SQLite started the copy
        // over, so the pages left did not go down. Under steady writes that could go on for ever,
        // so the rest is copied in one step, a single read transaction that writers in WAL mode
        // do not wait for.
        const restarted = progress.remainingPages >= lastRemaining;
        lastRemaining = progress.remainingPages;
        return restarted ? 0x7fffffff : PAGES_PER_STEP;
      },
    });
    onProgress?.({ totalPages: result.totalPages, remainingPages: 0 });
    // The copy carries the source's WAL flag; a backup is one self-contained file instead (a
    // server that starts on it after a restore switches it back to WAL).
    const copy = new Database(temp, { fileMustExist: true });
    try {
      copy.pragma('journal_mode = DELETE');
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy fails SQLite's quick_check: ${String(check)}`);
    } finally {
      copy.close();
    }
    restrictExistingFiles([temp]);
    fsyncPath(temp);
    if (overwrite) renameSync(temp, target);
    else {
      // link() refuses an existing name atomically, unlike a check followed by a rename.
      try {
        linkSync(temp, target);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST')
          throw new BackupRefused(`${target} exists: choose another file, or add --force to replace it`);
        // A file system without hard links (a FAT-formatted drive): checked, then renamed.
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
        if (existsSync(target))
          throw new BackupRefused(`${target} exists: choose another file, or add --force to replace it`);
        renameSync(temp, target);
      }
    }
    fsyncPath(path.dirname(target));
    return { pages: result.totalPages, bytes: statSync(target).size };
  } finally {
    db.close();
    for (const file of [temp, ...walFiles(temp), `${temp}-journal`]) removeIfThere(file);
  }
}

/**
 * Opens `file` for a moment to learn whether another process has it open: every connection to a
 * database in WAL mode (a server's, a worker thread's, a `tidings backup`'s) holds a shared lock
 * on it for as long as it is open, so the exclusive lock that `locking_mode = EXCLUSIVE` takes on
 * the first read is refused while any of them lives. The kernel drops those locks when a process
 * dies, so a crashed server does not count; a file on a network file system may not lock reliably.
 */
function openedByAnotherProcess(file: string): boolean {
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.prepare('SELECT COUNT(*) FROM sqlite_master').pluck().get();
    return false;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) return true;
    // Not a database any more (the reason for a restore, say): no server can be using it.
    return false;
  } finally {
    db?.close();
  }
}

export interface RestoreResult {
  /** The newest schema version in the restored database. */
  version: number;
  /** The newest this build knows: a lower `version` is migrated at the next start. */
  latest: number;
}

/** Checks the copy at `file` is a whole Tidings database this build can run; throws BackupRefused otherwise. */
function checkRestorable(file: string, shownAs: string): number {
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch (error) {
    throw new BackupRefused(`cannot open ${shownAs} as a SQLite database: ${(error as Error).message}`);
  }
  try {
    let problems: string[];
    try {
      problems = db.prepare('PRAGMA integrity_check').pluck().all() as string[];
    } catch (error) {
      // SQLite opens any file lazily: one that is not a database fails at the first read.
      throw new BackupRefused(`${shownAs} is not a SQLite database (${(error as Error).message})`);
    }
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new BackupRefused(
        `${shownAs} fails SQLite's integrity check, so it is not restored: ${problems.slice(0, 3).join('; ')}`,
      );
    }
    const versions = appliedVersions(db);
    if (versions === null || versions.length === 0) {
      throw new BackupRefused(
        `${shownAs} is a SQLite database but not a Tidings one (it has no schema_migrations)`,
      );
    }
    const version = versions[versions.length - 1]!;
    const latest = latestMigration();
    if (version > latest) {
      throw new BackupRefused(
        `${shownAs} was made by a newer Tidings (schema version ${version}; this one knows up to ${latest}): ` +
          'restore it with that version of Tidings or a later one',
      );
    }
    return version;
  } finally {
    db.close();
  }
}

/**
 * Replaces the database at `target` with the backup at `backup`, which is left untouched: it is
 * copied beside `target`, checked there (SQLite's integrity check, a Tidings schema no newer than
 * this build's), and renamed into place, after the old database's -wal and -shm are removed (a
 * stale write-ahead log would otherwise be replayed into the restored file). Refused while
 * another process has `target` open. Runs no migration: the next start does.
 */
export function restoreSqliteDatabase(options: { backup: string; target: string }): RestoreResult {
  const { backup, target } = options;
  if (!existsSync(backup)) throw new BackupRefused(`there is no file ${backup}`);
  const stat = statSync(backup);
  if (stat.isDirectory()) throw new BackupRefused(`${backup} is a folder, not a backup file`);
  // SQLite takes an empty file for an empty database: say what it is instead.
  if (stat.size === 0) throw new BackupRefused(`${backup} is empty, not a Tidings database`);
  if (sameFile(backup, target))
    throw new BackupRefused(`${backup} is the database itself: nothing to restore`);
  const backupWal = `${backup}-wal`;
  if (existsSync(backupWal) && statSync(backupWal).size > 0) {
    throw new BackupRefused(
      `${backup} has a write-ahead log beside it (${backupWal}): it is a database in use, or a copy ` +
        'made while one ran; make a backup with `tidings backup FILE` and restore that',
    );
  }
  if (existsSync(target) && openedByAnotherProcess(target)) {
    throw new BackupRefused(
      `${target} is in use: a Tidings server (or another process, such as tidings backup) has it open. ` +
        'Stop every Tidings process on this database, then restore',
    );
  }
  makePrivateDir(path.dirname(target));
  const temp = tempBeside(target);
  try {
    copyFileSync(backup, temp, constants.COPYFILE_EXCL);
    restrictExistingFiles([temp]);
    const version = checkRestorable(temp, backup);
    fsyncPath(temp);
    // Checked again just before the swap: a server may have started while the copy was checked.
    if (existsSync(target) && openedByAnotherProcess(target)) {
      throw new BackupRefused(
        `${target} is in use: a Tidings server started while the backup was being checked. Stop it, then restore`,
      );
    }
    for (const file of walFiles(target)) removeIfThere(file);
    renameSync(temp, target);
    fsyncPath(path.dirname(target));
    return { version, latest: latestMigration() };
  } finally {
    for (const file of [temp, ...walFiles(temp), `${temp}-journal`]) removeIfThere(file);
  }
}
