import { classifyStoreErrors } from '../errors.ts';

// SQLSTATE class 08 (connection exception) except 08P01: a protocol violation — a wrong bind
// count, say — is a bug of the statement, and retrying it changes nothing.
const CONNECTION = /^08(?!P01)/;
// 57P01/02/03: the server is shutting down, crashed, or is starting up; 57P05: an idle session
// was timed out (the next query gets a new connection). 57P04 (database dropped) is no outage.
const OPERATOR_INTERVENTION = new Set(['57P01', '57P02', '57P03', '57P05']);
// Too many connections: a moment later there may be one free.
const TOO_MANY_CONNECTIONS = '53300';
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres reports a dropped connection, and a pool that could not connect in time, with
// these messages and no code.
const DROPPED =
  /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/;

/** Whether a node-postgres error means the server cannot be reached right now. */
function isPostgresUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (CONNECTION.test(code) || OPERATOR_INTERVENTION.has(code) || code === TOO_MANY_CONNECTIONS)
      return true;
    if (SOCKET_CODES.has(code)) return true;
  }
  return typeof message === 'string' && DROPPED.test(message);
}

/** The PostgreSQL store's methods, their connection failures thrown as StoreUnavailableError. */
export function classifyPostgresErrors<T extends object>(store: T): T {
  return classifyStoreErrors(store, isPostgresUnavailable);
}
