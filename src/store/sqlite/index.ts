import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '../port.ts';
import { sqliteEventStore } from './events.ts';
import { jobStatements, sqliteJobStore } from './jobs.ts';
import { sqliteMessageStore } from './messages.ts';
import { migrate } from './migrate.ts';
import { sqliteSubscriberStore, subscriberStatements } from './subscribers.ts';
import { sqliteTenantStore } from './tenants.ts';
import { sqliteIntegrationStore, sqliteWorkflowStore } from './workflows.ts';

export interface SqliteOptions {
  /** Path of the database file, or ':memory:'. */
  file: string;
  /**
   * 'full' fsyncs every commit (survives power loss); 'normal' survives process crashes only.
   * Ingest groups concurrent requests into one commit, so 'full' costs one fsync per batch.
   */
  synchronous?: 'full' | 'normal';
}

/**
 * Opens (creating and migrating if needed) the embedded SQLite store.
 *
 * @example
 * const store = openSqliteStore({ file: './data/tidings.db' });
 */
export function openSqliteStore(options: SqliteOptions): Store {
  if (options.file !== ':memory:') mkdirSync(path.dirname(options.file), { recursive: true });
  const db = new Database(options.file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? 'full'}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.pragma('cache_size = -65536');
  migrate(db);

  const jobs = jobStatements(db);
  const subscribers = subscriberStatements(db);
  return {
    dialect: 'sqlite',
    ...sqliteJobStore(db, jobs),
    ...sqliteTenantStore(db),
    ...sqliteEventStore(db, jobs, subscribers),
    ...sqliteSubscriberStore(db, subscribers),
    ...sqliteWorkflowStore(db),
    ...sqliteIntegrationStore(db),
    ...sqliteMessageStore(db, jobs),
    async close() {
      if (db.open) db.close();
    },
  };
}
