import type { OutboundGuard } from '../security/outbound/index.ts';
import { ApiError, type ErrorDetail, validationError } from './errors.ts';

const BLOCKED =
  'is a loopback, private, link-local or metadata address; TIDINGS_ALLOW_PRIVATE_TARGETS does not allow it';

/** A host a tenant names (a webhook URL's, a push endpoint's, a provider's), and the field it came from. */
export interface NamedTarget {
  host: string;
  path: string;
}

/**
 * The private-target rule at write time, offline: IP literals (in any spelling a URL parser
 * accepts) and localhost names are refused here — what is no host at all as `invalid` says (400
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
  for (const { host, path } of targets) {
    const verdict = outbound.checkHost(host);
    if (verdict === 'invalid') invalid.push({ path, message: 'is not a host name or address' });
    if (verdict === 'blocked') blocked.push({ path, message: BLOCKED });
  }
  if (invalid.length > 0) throw invalidAs(invalid);
  if (blocked.length > 0)
    throw new ApiError('blocked_target', `${blocked[0]!.path} ${blocked[0]!.message}`, blocked);
}
