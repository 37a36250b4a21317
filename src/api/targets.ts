import type { OutboundGuard } from '../security/outbound/index.ts';
import { isHostNameOrAddress } from '../shared/host-name.ts';
import { ApiError, type ErrorDetail, validationError } from './errors.ts';

const BLOCKED =
  'is a loopback, private, link-local or metadata address; TIDINGS_ALLOW_PRIVATE_TARGETS does not allow it';

/** A host a tenant names (a webhook URL's, a push endpoint's, a provider's), and the field it came from. */
export interface NamedTarget {
  host: string;
  path: string;
  /** The URL's port as written, when the target is a URL ('' when it names none). */
  port?: string;
}

// Port 0 is no port: every connect to it fails (EADDRNOTAVAIL / ECONNREFUSED), so a URL naming it
// would be stored only to fail each send. WHATWG URL parsing keeps it (`http://h:0/` has port '0').
const PORT_ZERO = 'names port 0, which nothing can be reached on (omit the port or give 1–65535)';

/**
 * The private-target rule at write time, offline: IP literals (in any spelling a URL parser
 * accepts) and localhost names are refused here, and so is a URL's port 0 — what is no host at all as `invalid` says (400
 * by default; an integration's config answers 422), else 422 `blocked_target` naming every
 * blocked field; other names are checked after DNS, at every connect.
 */
export function refuseBlockedTargets(
  outbound: Pick<OutboundGuard, 'checkHost'>,
  targets: NamedTarget[],
  invalidAs: (details: ErrorDetail[]) => ApiError = validationError,
): void {
  const invalid: ErrorDetail[] = [];
  const blocked: ErrorDetail[] = [];
  for (const { host, path, port } of targets) {
    if (port === '0') invalid.push({ path, message: PORT_ZERO });
    const verdict = outbound.checkHost(host);
    if (verdict === 'invalid') invalid.push({ path, message: 'is not a host name or address' });
    if (verdict === 'blocked') blocked.push({ path, message: BLOCKED });
  }
  if (invalid.length > 0) throw invalidAs(invalid);
  if (blocked.length > 0)
    throw new ApiError('blocked_target', `${blocked[0]!.path} ${blocked[0]!.message}`, blocked);
}

/**
 * The targets whose host is no host name or IP address (src/shared/host-name.ts), as details
 * naming their fields (an integration answers them 422). A host the integration already had at that field passes, so that one stored
 * before the rule can still be changed (disabled, reprioritised) while it keeps it.
 */
export function unusableHosts(targets: NamedTarget[], stored: NamedTarget[]): ErrorDetail[] {
  const kept = new Set(stored.map((target) => `${target.path}\n${target.host}`));
  return targets
    .filter(({ host, path }) => !isHostNameOrAddress(host) && !kept.has(`${path}\n${host}`))
    .map(({ path }) => ({
      path,
      message:
        path === 'config.host'
          ? 'must be a host name (such as smtp.example.com) or an IP address: no scheme, port, quotes or spaces'
          : 'names a host that is no host name or IP address (quotes, braces or other characters no DNS name has)',
    }));
}
