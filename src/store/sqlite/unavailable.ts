import { classifyStoreErrors } from '../errors.ts';

// Busy past busy_timeout, or a table locked by another connection: the next try may succeed.
const BUSY = /^SQLITE_(BUSY|LOCKED)/;

/** Whether a better-sqlite3 error means the database is busy right now. */
function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && BUSY.test(code);
}

/** The SQLite store's methods, their busy errors thrown as StoreUnavailableError. */
export function classifySqliteErrors<T extends object>(store: T): T {
  return classifyStoreErrors(store, isSqliteBusy);
}
