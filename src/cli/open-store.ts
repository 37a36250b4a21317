import path from 'node:path';
import type { Config } from '../config/index.ts';
import {
  createPrivateFile,
  makePrivateDir,
  restrictExistingFiles,
  restrictNewFiles,
} from '../security/file-modes.ts';
import type { Store } from '../store/port.ts';
import { openPostgresStore } from '../store/postgres/index.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { Logger } from '../telemetry/logger.ts';

/** What the threads of one process that open the same SQLite file share. */
export interface SharedSqlite {
  writeLock: Int32Array;
  /** Whether the process runs a checkpoint thread (src/store/sqlite/checkpointer.ts). */
  backgroundCheckpoints: boolean;
}

/** Opens (and migrates) the store the configuration names. */
export async function openStore(config: Config, shared?: SharedSqlite, logger?: Logger): Promise<Store> {
  if (config.database.kind === 'postgres') {
    return openPostgresStore({
      url: config.database.url,
      onError: (error, context) => logger?.warn({ err: error }, context),
    });
  }
  if (config.database.file !== ':memory:') securePrivateDatabaseFile(config.database.file);
  return openSqliteStore({
    file: config.database.file,
    writeLock: shared?.writeLock,
    checkpoints: shared?.backgroundCheckpoints ? 'background' : 'on-commit',
  });
}

/**
 * The database file and its -wal and -shm are 0600 before SQLite opens them: a new file is made
 * private first (SQLite gives the -wal and -shm it creates the database file's mode), and files
 * an earlier version left 0644 are made private.
 */
function securePrivateDatabaseFile(file: string): void {
  restrictNewFiles();
  makePrivateDir(path.dirname(file));
  restrictExistingFiles([`${file}-wal`, `${file}-shm`]);
  createPrivateFile(file);
}

/** Whether a worker thread can open this store on its own (an in-memory database cannot be shared). */
export function storeOpensFromThreads(config: Config): boolean {
  return config.database.kind === 'postgres' || config.database.file !== ':memory:';
}
