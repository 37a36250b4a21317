import type { Config } from '../config/index.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';

/**
 * Opens (and migrates) the store the configuration names. Threads of one process that open the
 * same SQLite file pass the same `writeLock`.
 */
export function openStore(config: Config, writeLock?: Int32Array): Store {
  if (config.database.kind === 'postgres') {
    throw new Error('PostgreSQL support is not built yet: use sqlite:<path> for TIDINGS_DATABASE_URL.');
  }
  return openSqliteStore({ file: config.database.file, writeLock });
}
