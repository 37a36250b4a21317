import { classifyStoreErrors, type Unavailability } from '../errors.ts';

// SQLSTATE class 08 (connection exception) except 08P01: a protocol violation — a wrong bind
// count, say — is a bug of the statement, and retrying it changes nothing.
const CONNECTION = /^08(?!P01)/;
// 57P01/02/03: the server is shutting down, crashed, or is starting up; 57P05: an idle session
// was timed out (the next query gets a new connection). 57P04 (database dropped) is no outage.
const OPERATOR_INTERVENTION = new Set(['57P01', '57P02', '57P03', '57P05']);
// Too many connections: a moment later there may be one free.
const TOO_MANY_CONNECTIONS = '53300';
// disk_full: the server could not extend a file; the statement was rolled back.
const DISK_FULL = '53100';
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres reports a dropped connection, and a pool that could not connect in time, with
// these messages and no code.
const DROPPED =
  /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/;

/** Whether a node-postgres error means the server cannot take work right now, and why. */
function postgresUnavailability(error: unknown): Unavailability | null {
  if (!error || typeof error !== 'object') return null;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (code === DISK_FULL) return 'out_of_space';
    if (CONNECTION.test(code) || OPERATOR_INTERVENTION.has(code) || code === TOO_MANY_CONNECTIONS)
      return 'busy';
    if (SOCKET_CODES.has(code)) return 'busy';
  }
  return typeof message === 'string' && DROPPED.test(message) ? 'busy' : null;
}

/** The PostgreSQL store's methods, their connection failures and a full disk thrown as StoreUnavailableError. */
export function classifyPostgresErrors<T extends object>(store: T): T {
  return classifyStoreErrors(store, postgresUnavailability);
}
