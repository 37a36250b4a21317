import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { parseAllowList } from './allow-list.ts';
import { createGuardedDispatcher } from './http.ts';
import { normaliseHost, TargetPolicy } from './policy.ts';
import { connectChecked } from './socket.ts';

export { ALLOW_PRIVATE_TARGETS_ENV, AllowListError, parseAllowList } from './allow-list.ts';
export { BLOCKED_TARGET_CODE, BlockedTargetError, isBlockedTargetError } from './errors.ts';
export { normaliseHost, TargetPolicy } from './policy.ts';

/**
 * The one guarded way out for connections made on a tenant's behalf: every provider that
 * reaches a host a tenant named uses `http` (HTTP) or `connect` (raw TCP, e.g. SMTP).
 */
export interface OutboundGuard {
  readonly policy: TargetPolicy;
  /** Shared, pooled HTTP dispatcher whose connect step applies the policy. */
  readonly http: Dispatcher;
  /** A TCP connection to host:port after the policy approved every address of the host. */
  connect(host: string, port: number, timeoutMs: number): Promise<Socket>;
  /**
   * What can be said about a host offline (PUT time): `blocked` for literals the rule refuses
   * and localhost names, `invalid` for text that is no host, else `ok` (names are checked when
   * connecting, after DNS).
   */
  checkHost(host: string): 'ok' | 'blocked' | 'invalid';
  close(): Promise<void>;
}

/** Builds the guard from TIDINGS_ALLOW_PRIVATE_TARGETS as given (null/empty: no private target). */
export function createOutboundGuard(allowPrivateTargets: string | null): OutboundGuard {
  const policy = new TargetPolicy(parseAllowList(allowPrivateTargets));
  let http: Dispatcher | null = null;
  return {
    policy,
    // Built on first use: an API-only process that never sends holds no connection pool.
    get http() {
      http ??= createGuardedDispatcher(policy);
      return http;
    },
    connect: (host, port, timeoutMs) => connectChecked(policy, host, port, timeoutMs),
    checkHost(host) {
      const normalised = normaliseHost(host);
      if (normalised === null) return 'invalid';
      return policy.classifyHost(normalised) === 'blocked' ? 'blocked' : 'ok';
    },
    async close() {
      await http?.close();
      http = null;
    },
  };
}
