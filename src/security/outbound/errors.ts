import { ALLOW_PRIVATE_TARGETS_ENV } from './allow-list.ts';

/** Error code carried by {@link BlockedTargetError}, like a system error's `code`. */
export const BLOCKED_TARGET_CODE = 'EBLOCKEDTARGET';

/**
 * A connection refused by the private-target rule before it was made. The message names the
 * host (which the tenant gave) but not the address it resolved to, so the timeline does not
 * become a way to map internal DNS.
 */
export class BlockedTargetError extends Error {
  override name = 'BlockedTargetError';
  readonly code = BLOCKED_TARGET_CODE;

  constructor(readonly host: string) {
    super(
      `${host} is a loopback, private, link-local or metadata address (or resolves to one); ${ALLOW_PRIVATE_TARGETS_ENV} does not allow it`,
    );
  }
}

/** True when `error`, or anything in its `cause` chain, is a {@link BlockedTargetError}. */
export function isBlockedTargetError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    if ((current as { code?: unknown }).code === BLOCKED_TARGET_CODE) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
