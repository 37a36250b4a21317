import path from 'node:path';
import type { Config } from '../config/index.ts';
import { TransferRefused } from '../store/transfer/errors.ts';
import { copySqliteToPostgres } from '../store/transfer/sqlite-to-postgres.ts';

const USAGE = 'usage: tidings migrate --from sqlite:PATH   (with TIDINGS_DATABASE_URL=postgres://…)';

/** `--from sqlite:PATH` or `--from=sqlite:PATH` → the file, resolved from the working directory. */
function sourceFile(args: string[]): string | null {
  let value: string | undefined;
  if (args.length === 2 && args[0] === '--from') value = args[1];
  else if (args.length === 1 && args[0]?.startsWith('--from=')) value = args[0].slice('--from='.length);
  if (!value?.startsWith('sqlite:')) return null;
  const file = value.slice('sqlite:'.length);
  if (file === '' || file === ':memory:') return null;
  return path.resolve(file);
}

function refuse(message: string): void {
  process.stderr.write(`tidings migrate: ${message}\n`);
  // 2, like every usage or configuration error: the setup needs fixing, retrying will not help.
  process.exitCode = 2;
}

/**
 * `tidings migrate --from sqlite:PATH`: copies an embedded installation into the PostgreSQL
 * database TIDINGS_DATABASE_URL names. Progress goes to stderr, the outcome to stdout.
 */
export async function migrateFrom(args: string[], config: Config): Promise<void> {
  const file = sourceFile(args);
  if (file === null) return refuse(`copy from what?\n${USAGE}`);
  if (config.database.kind !== 'postgres') {
    return refuse(
      'migrate --from copies into PostgreSQL: set TIDINGS_DATABASE_URL=postgres://user@host:5432/db ' +
        '(the database to copy into), not the SQLite file',
    );
  }
  try {
    const report = await copySqliteToPostgres({
      sourceFile: file,
      targetUrl: config.database.url,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    if (report.alreadyCopied) {
      process.stdout.write('already copied: nothing to do\n');
      return;
    }
    const copied = report.tables.reduce((sum, t) => sum + t.inserted, 0);
    process.stdout.write(
      `copied ${copied} rows from ${report.source} into PostgreSQL` +
        `${report.resumed ? ' (finishing an earlier, interrupted run)' : ''}\n` +
        'Start Tidings with this TIDINGS_DATABASE_URL to carry on there.\n',
    );
  } catch (error) {
    if (error instanceof TransferRefused) return refuse(error.message);
    process.stderr.write(
      `tidings migrate: the copy stopped: ${(error as Error).message}\n` +
        'What was copied stays; run the same command again to finish.\n',
    );
    process.exitCode = 1;
  }
}
