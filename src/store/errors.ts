/**
 * Errors that mean "the store cannot be reached or is busy right now", not "this request is
 * wrong": the API answers them with 503 and Retry-After, and workers try again later.
 */
const SQLITE_BUSY = /^SQLITE_(BUSY|LOCKED)/;
// PostgreSQL SQLSTATE classes 08 (connection exception) and 57P (operator intervention: the
// server is shutting down or starting up), and 53300 (too many connections).
const POSTGRES_UNAVAILABLE = /^(08|57P|53300)/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres reports a dropped connection with these messages and no code.
const DROPPED =
  /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/;

export function isStoreUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (
    typeof code === 'string' &&
    (SQLITE_BUSY.test(code) || POSTGRES_UNAVAILABLE.test(code) || SOCKET_CODES.has(code))
  )
    return true;
  return typeof message === 'string' && DROPPED.test(message);
}
