import { isIP } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { BlockedTargetError } from './errors.ts';
import { hostWithoutDecoration, type TargetPolicy } from './policy.ts';
import { guardedLookup } from './resolve.ts';

export interface GuardedDispatcherOptions {
  /** TCP + TLS connect deadline. */
  connectTimeoutMs?: number;
  /**
   * Certificates to trust instead of Node's (PEM). Only tests set it (a local fake with a
   * self-signed certificate, see src/feedback/sns-certificates.ts); unset, Node's store applies.
   */
  ca?: string;
}

/**
 * An undici dispatcher for requests made on a tenant's behalf. Its connect step resolves the
 * name itself, checks every resolved address against the private-target rule, and connects to
 * the checked address (see guardedLookup); IP literals, which net.connect would not look up, are
 * checked here. It follows no redirects (undici's dispatcher never does by itself), so every
 * connection it makes went through this check. Connections are pooled and kept alive per origin.
 */
export function createGuardedDispatcher(
  policy: TargetPolicy,
  options: GuardedDispatcherOptions = {},
): Dispatcher {
  const connectChecked = buildConnector({
    lookup: guardedLookup(policy),
    timeout: options.connectTimeoutMs ?? 10_000,
    ...(options.ca ? { ca: options.ca } : {}),
  });
  const connect: buildConnector.connector = (connectOptions, callback) => {
    const host = hostWithoutDecoration(connectOptions.hostname);
    if (isIP(host) !== 0 && policy.isBlocked(host)) {
      callback(new BlockedTargetError(connectOptions.hostname), null);
      return;
    }
    connectChecked(connectOptions, callback);
  };
  return new Agent({ connect, keepAliveTimeout: 4_000 });
}
