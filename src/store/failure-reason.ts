import { StoreUnavailableError } from './errors.ts';

/**
 * A store error as readiness reports it: the driver's code (SQLITE_CORRUPT, 57P01, ECONNREFUSED)
 * and, for SQLite, its message. PostgreSQL messages can name hosts and users, and /readyz answers
 * without a key, so those give their code only.
 */
export function storeFailureReason(error: unknown): string {
  // The driver's own error says more (a SqliteError's message).
  if (error instanceof StoreUnavailableError) return storeFailureReason(error.cause);
  const { code, message, name } = (error ?? {}) as { code?: unknown; message?: unknown; name?: unknown };
  const label = typeof code === 'string' && code !== '' ? code : 'error';
  if (name === 'SqliteError' && typeof message === 'string') return `${label}: ${message}`.slice(0, 200);
  return label;
}
