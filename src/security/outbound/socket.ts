import { connect, isIP, type Socket } from 'node:net';
import { BlockedTargetError } from './errors.ts';
import { hostWithoutDecoration, type TargetPolicy } from './policy.ts';
import { guardedLookup } from './resolve.ts';

/**
 * Opens a plain TCP connection to `host:port` through the private-target rule (for protocols
 * whose clients take a ready socket, like nodemailer's `getSocket`): the name is resolved and
 * every address checked before connecting, and the socket connects to a checked address. TLS,
 * if any, is layered on by the caller with the name as servername.
 */
export function connectChecked(
  policy: TargetPolicy,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Socket> {
  const bare = hostWithoutDecoration(host);
  // net.connect looks names up through `lookup` but connects to IP literals directly.
  if (isIP(bare) !== 0 && policy.isBlocked(bare)) return Promise.reject(new BlockedTargetError(host));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: bare, port, lookup: guardedLookup(policy), timeout: timeoutMs });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.once('timeout', () =>
      fail(Object.assign(new Error(`connect ETIMEDOUT ${host}:${port}`), { code: 'ETIMEDOUT' })),
    );
    socket.once('connect', () => {
      socket.off('error', fail);
      socket.setTimeout(0);
      socket.removeAllListeners('timeout');
      resolve(socket);
    });
  });
}
