import { type LookupAddress, lookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { BlockedTargetError } from './errors.ts';
import { hostWithoutDecoration, type TargetPolicy } from './policy.ts';

/**
 * Resolves `host` (a name or an IP literal) and checks every address it resolves to. One blocked
 * address refuses the whole host: a name that answers with a public and a private address is
 * either misconfigured or a DNS-rebinding attempt, and the socket could pick either.
 */
export function resolveChecked(
  policy: TargetPolicy,
  host: string,
  callback: (error: Error | null, addresses: LookupAddress[]) => void,
): void {
  const bare = hostWithoutDecoration(host);
  const version = isIP(bare);
  if (version !== 0) {
    if (policy.isBlocked(bare)) callback(new BlockedTargetError(host), []);
    else callback(null, [{ address: bare, family: version }]);
    return;
  }
  if (policy.classifyHost(bare) === 'blocked') {
    callback(new BlockedTargetError(host), []);
    return;
  }
  lookup(bare, { all: true, verbatim: true }, (error, addresses) => {
    if (error) return callback(error, []);
    if (addresses.length === 0 || addresses.some((a) => policy.isBlocked(a.address))) {
      return callback(new BlockedTargetError(host), []);
    }
    callback(null, addresses);
  });
}

/**
 * A `lookup` for net/tls.connect that answers only with checked addresses: the socket connects
 * to exactly what was checked (no second resolution between check and connect), while TLS keeps
 * the name for SNI and certificate checks.
 */
export function guardedLookup(policy: TargetPolicy): LookupFunction {
  return (hostname, options, callback) => {
    resolveChecked(policy, hostname, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
      const usable = wanted === 0 ? addresses : addresses.filter((a) => a.family === wanted);
      if (options.all) return (callback as (e: null, all: LookupAddress[]) => void)(null, usable);
      const first = usable[0];
      if (!first) {
        const none = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        return callback(none, '', 0);
      }
      callback(null, first.address, first.family);
    });
  };
}
