import path from 'node:path';
import type pg from 'pg';
import { MASTER_SECRET_SETTING } from '../../security/secrets.ts';
import { createPool, withSessionLock } from '../postgres/client.ts';
import { ADVISORY_LOCKS } from '../postgres/locks.ts';
import { migrate } from '../postgres/migrate.ts';
import { copyTable, type TableProgress } from './copy-table.ts';
import { TransferRefused } from './errors.ts';
import { type CopyMarker, finishCopy, prepareTarget, type SecretOutcome } from './preflight.ts';
import { openSqliteSource, type SqliteSource } from './source.ts';
import { TABLES } from './tables.ts';
import { analyze, moveIdsPastCopied, moveInboxCursorsPastCopiedLogs } from './target.ts';

export interface SqliteToPostgresOptions {
  /** The embedded installation's database file. */
  sourceFile: string;
  /** postgres://… of the target; its migrations are applied first. */
  targetUrl: string;
  /** Rows per INSERT (default 2000). */
  batchRows?: number;
  /** JSON bytes per INSERT at most (default 8 MiB). */
  batchBytes?: number;
  /** Human-readable progress, one line at a time (the CLI writes them to stderr). */
  log?: (line: string) => void;
  /** Called after every batch. */
  onProgress?: (progress: TableProgress) => void;
}

export interface SqliteToPostgresReport {
  /** Absolute path of the copied file. */
  source: string;
  /** The target already held a finished copy: nothing was done. */
  alreadyCopied: boolean;
  /** This run finished a copy an earlier run had started. */
  resumed: boolean;
  /** Null when nothing was done. */
  secret: SecretOutcome | null;
  tables: TableProgress[];
  marker: CopyMarker;
}

const PROGRESS_EVERY_MS = 1000;

/** The target as logs may show it: never the password. */
function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return 'TIDINGS_DATABASE_URL';
  }
}

/**
 * Copies an embedded (SQLite) installation into PostgreSQL, every table, keeping ids, so the
 * installation carries on there with its history: keys, subscribers, inboxes, timelines and queued
 * jobs. The old installation should be stopped first; the copy reads one snapshot of the file and
 * does not see later writes. Running it again after an interruption finishes the copy; after a
 * finished copy it does nothing.
 *
 * @example
 * await copySqliteToPostgres({ sourceFile: './data/tidings.db', targetUrl: 'postgres://127.0.0.1/tidings' });
 */
export async function copySqliteToPostgres(
  options: SqliteToPostgresOptions,
): Promise<SqliteToPostgresReport> {
  const log = options.log ?? (() => undefined);
  if (!/^postgres(ql)?:\/\//.test(options.targetUrl)) {
    throw new TransferRefused('the target must be a PostgreSQL database (postgres://…)');
  }
  const sourceFile = path.resolve(options.sourceFile);
  const source = openSqliteSource(sourceFile);
  // Two connections: the migration takes one while the copy's session holds the other.
  const pool = createPool({ url: options.targetUrl, max: 2 });
  try {
    log(`copying ${sourceFile} into PostgreSQL at ${describeTarget(options.targetUrl)}`);
    await migrate(pool);
    // Two copies racing into one database would each take the other's rows for an earlier run of their own.
    const report = await withSessionLock(pool, ADVISORY_LOCKS.transfer, { wait: false }, (client) =>
      copyAll(source, client, options, log),
    );
    if (report === null) {
      throw new TransferRefused('another `tidings migrate --from` is copying into this database right now');
    }
    return report;
  } finally {
    await pool.end();
    source.close();
  }
}

async function copyAll(
  source: SqliteSource,
  client: pg.PoolClient,
  options: SqliteToPostgresOptions,
  log: (line: string) => void,
): Promise<SqliteToPostgresReport> {
  const leased = source.liveLeases(Date.now());
  if (leased > 0) {
    log(
      `warning: ${leased} job(s) in ${source.file} are leased by a worker that looks alive; ` +
        'if the old Tidings is still running, what it does from now on is not copied — stop it first',
    );
  }
  const preflight = await prepareTarget(
    client,
    { file: source.file, secret: source.setting(MASTER_SECRET_SETTING) },
    Date.now(),
  );
  if (!preflight.proceed) {
    log(
      `nothing to do: the target already holds a finished copy of ${preflight.marker.source} ` +
        `(${new Date(preflight.marker.finishedAt ?? 0).toISOString()})`,
    );
    return {
      source: source.file,
      alreadyCopied: true,
      resumed: false,
      secret: null,
      tables: [],
      marker: preflight.marker,
    };
  }
  if (preflight.resumed) {
    log(`finishing the copy started ${new Date(preflight.marker.startedAt).toISOString()}`);
  }
  log(SECRET_NOTES[preflight.secret]);

  const limits = { rows: options.batchRows ?? 2000, bytes: options.batchBytes ?? 8 * 1024 * 1024 };
  const tables: TableProgress[] = [];
  let lastLine = Date.now();
  for (const spec of TABLES) {
    const done = await copyTable(source, client, spec, limits, (progress) => {
      options.onProgress?.(progress);
      if (progress.sent < progress.total && Date.now() - lastLine >= PROGRESS_EVERY_MS) {
        lastLine = Date.now();
        log(`${progress.table}: ${progress.sent}/${progress.total}`);
      }
    });
    const skipped = done.sent - done.inserted;
    log(`${done.table}: ${done.sent}/${done.total}${skipped > 0 ? ` (${skipped} already there)` : ''}`);
    lastLine = Date.now();
    tables.push(done);
  }
  for (const spec of TABLES) if (spec.keepsIdentity) await moveIdsPastCopied(client, spec.name);
  await moveInboxCursorsPastCopiedLogs(client);
  await analyze(
    client,
    TABLES.map((t) => t.name),
  );
  const marker = await finishCopy(client, preflight.marker, Date.now());
  return {
    source: source.file,
    alreadyCopied: false,
    resumed: preflight.resumed,
    secret: preflight.secret,
    tables,
    marker,
  };
}

const SECRET_NOTES: Record<SecretOutcome, string> = {
  copied: 'master secret: copied (subscriber tokens and integration credentials keep working)',
  same: 'master secret: already in place',
  replaced: "master secret: the target's own, which no data depended on yet, was replaced by the copied one",
  none:
    'master secret: the source keeps none in its database (it ran with TIDINGS_SECRET, or keeps its ' +
    'generated one in the master-secret file of its data directory); start the PostgreSQL ' +
    'installation with that secret as TIDINGS_SECRET, or its integration credentials cannot be read',
};
