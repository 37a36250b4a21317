import { classifyStoreErrors, type Unavailability } from '../errors.ts';

// Busy past busy_timeout, or a table locked by another connection: the next try may succeed.
const BUSY = /^SQLITE_(BUSY|LOCKED)/;

/**
 * Whether a better-sqlite3 error means the database cannot take work right now: busy, or its
 * disk full (SQLITE_FULL: the log or the file could not grow; SQLite rolled the write back, and it
 * goes through once there is space).
 */
function sqliteUnavailability(error: unknown): Unavailability | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (code === 'SQLITE_FULL') return 'out_of_space';
  return BUSY.test(code) ? 'busy' : null;
}

/** The SQLite store's methods, their busy and disk-full errors thrown as StoreUnavailableError. */
export function classifySqliteErrors<T extends object>(store: T): T {
  return classifyStoreErrors(store, sqliteUnavailability);
}
