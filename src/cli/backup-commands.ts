import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.ts';
import { restrictNewFiles } from '../security/file-modes.ts';
import { secretFilePath } from '../security/master-secret.ts';
import {
  type BackupProgress,
  BackupRefused,
  backupSqliteDatabase,
  restoreSqliteDatabase,
} from '../store/sqlite/backup.ts';
import { UsageError } from './arguments.ts';

const OPERATIONS = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));

export const BACKUP_USAGE = `usage: tidings backup FILE [--force]   copy the SQLite database into FILE while Tidings runs
       tidings restore FILE            replace the SQLite database with FILE (Tidings stopped)`;

/** Refused (a file in the way, a running server, not a database): said on stderr, exit code 2 like any setup to fix. */
function refuse(command: string, message: string): void {
  process.stderr.write(`tidings ${command}: ${message}\n`);
  process.exitCode = 2;
}

/** Something broke (a full disk, a read error): exit code 1; nothing half-made is left in place. */
function failed(command: string, error: unknown): void {
  process.stderr.write(`tidings ${command}: failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
}

/** The SQLite file, or why this command does not apply to the configured store. */
function sqliteFile(command: 'backup' | 'restore', config: Config): string | null {
  if (config.database.kind === 'postgres') {
    refuse(
      command,
      `TIDINGS_DATABASE_URL names PostgreSQL, and tidings ${command} is for the embedded SQLite store: ` +
        `${command === 'backup' ? 'back it up with pg_dump' : 'restore it with pg_restore'} as "Backups" in ${OPERATIONS} shows`,
    );
    return null;
  }
  if (config.database.file === ':memory:') {
    refuse(command, 'TIDINGS_DATABASE_URL=sqlite::memory: keeps nothing to back up or restore');
    return null;
  }
  return config.database.file;
}

/** One FILE and the allowed flags; anything else is a usage error. */
function parseArgs(args: string[], flags: readonly string[]): { file: string; flags: Set<string> } {
  const words = args.filter((a) => !a.startsWith('--'));
  const given = new Set(args.filter((a) => a.startsWith('--')).map((a) => a.slice(2)));
  const unknown = [...given].find((f) => !flags.includes(f));
  if (unknown !== undefined) throw new UsageError(`unknown option --${unknown}\n\n${BACKUP_USAGE}`);
  if (words.length !== 1 || words[0] === '') throw new UsageError(BACKUP_USAGE);
  return { file: path.resolve(words[0]!), flags: given };
}

/** Where the master secret lives: what must be kept (or given again) beside the database copy. */
function secretNote(config: Config): string {
  return config.secret !== null
    ? 'The master secret is not in the backup: this installation uses TIDINGS_SECRET, and the backup ' +
        'opens only with that same value. Keep it safe, apart from the backup.'
    : `The master secret is not in the backup: keep a copy of ${secretFilePath(config)} (it is as ` +
        'secret as a password; store it apart from the backup), or restore with TIDINGS_SECRET set to its contents.';
}

/** `remaining of total pages left`, rewritten in place on a terminal; nothing when stderr is not one. */
function progressLine(): ((progress: BackupProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let shown = '';
  return ({ totalPages, remainingPages }) => {
    const line =
      remainingPages === 0
        ? `copied ${totalPages} pages`
        : `copying: ${remainingPages} of ${totalPages} pages left`;
    if (line === shown) return;
    shown = line;
    process.stderr.write(`\r\x1b[K${line}${remainingPages === 0 ? '\n' : ''}`);
  };
}

/**
 * `tidings backup FILE [--force]`: SQLite's online backup of the embedded database, consistent
 * while a server runs and writes. The master secret is kept outside the database, so the note
 * printed with the result says where it is.
 */
export async function backupCommand(args: string[], config: Config): Promise<void> {
  const { file, flags } = parseArgs(args, ['force']);
  const source = sqliteFile('backup', config);
  if (source === null) return;
  // The backup holds every tenant's data: private to this user, like the database.
  restrictNewFiles();
  try {
    const { pages, bytes } = await backupSqliteDatabase({
      source,
      target: file,
      overwrite: flags.has('force'),
      onProgress: progressLine(),
    });
    process.stdout.write(
      `backed up ${source} to ${file} (${pages} pages, ${(bytes / 1048576).toFixed(1)} MiB)\n${secretNote(config)}\n`,
    );
  } catch (error) {
    if (error instanceof BackupRefused) return refuse('backup', error.message);
    return failed('backup', error);
  }
}

/**
 * `tidings restore FILE`: puts a backup in place of the embedded database, refused while any
 * process has that database open. It runs nothing else: the next start applies migrations.
 */
export async function restoreCommand(args: string[], config: Config): Promise<void> {
  const { file } = parseArgs(args, []);
  const target = sqliteFile('restore', config);
  if (target === null) return;
  restrictNewFiles();
  try {
    const { version, latest } = restoreSqliteDatabase({ backup: file, target });
    const upgrade =
      version < latest ? ` (schema version ${version}: the next start migrates it to ${latest})` : '';
    process.stdout.write(
      `restored ${file} into ${target}${upgrade}\n` +
        'Its integration credentials and personal data open only under the master secret of the ' +
        `installation it was backed up from: ${
          config.secret !== null ? 'TIDINGS_SECRET' : secretFilePath(config)
        } must hold that one (a start with another stops and says so).\n`,
    );
  } catch (error) {
    if (error instanceof BackupRefused) return refuse('restore', error.message);
    return failed('restore', error);
  }
}
