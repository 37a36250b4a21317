/**
 * Codes of failures that happen before a connection exists: refused, unreachable, unresolvable,
 * or the connect itself timed out. Nothing was sent, so the provider never saw the message.
 */
const BEFORE_CONNECTING = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EDNS',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * True when `error` (or an error it wraps) says no connection was ever made — the integration's
 * host cannot be reached, which says nothing about the message, so the send may fail over to
 * another integration at once without risking a duplicate. A reset or a timeout once connected is
 * not this: the request may have arrived.
 */
export function neverConnected(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const e = current as { code?: unknown; originalCode?: unknown; syscall?: unknown; message?: unknown };
    for (const code of [e.code, e.originalCode])
      if (typeof code === 'string' && BEFORE_CONNECTING.has(code)) return true;
    if (e.syscall === 'connect' || e.syscall === 'getaddrinfo') return true;
    // The outbound guard's own connect deadline (src/security/outbound/socket.ts).
    if (e.code === 'ETIMEDOUT' && typeof e.message === 'string' && e.message.startsWith('connect '))
      return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
