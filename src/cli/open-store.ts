import type { Config } from '../config/index.ts';
import type { Store } from '../store/port.ts';
import { openPostgresStore } from '../store/postgres/index.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { Logger } from '../telemetry/logger.ts';

/**
 * Opens (and migrates) the store the configuration names. Threads of one process that open the
 * same SQLite file pass the same `writeLock`.
 */
export async function openStore(config: Config, writeLock?: Int32Array, logger?: Logger): Promise<Store> {
  if (config.database.kind === 'postgres') {
    return openPostgresStore({
      url: config.database.url,
      onError: (error, context) => logger?.warn({ err: error }, context),
    });
  }
  return openSqliteStore({ file: config.database.file, writeLock });
}

/** Whether a worker thread can open this store on its own (an in-memory database cannot be shared). */
export function storeOpensFromThreads(config: Config): boolean {
  return config.database.kind === 'postgres' || config.database.file !== ':memory:';
}
