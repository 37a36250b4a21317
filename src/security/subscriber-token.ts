import { errors, jwtVerify, SignJWT } from 'jose';
import { parseDuration } from '../shared/time.ts';
import { isCanonicalBase64url } from './base64url.ts';

export const DEFAULT_TOKEN_LIFETIME_S = 24 * 3600;
/** API.md: `expiresIn` is from 1 s to 7 d. */
export const MIN_TOKEN_LIFETIME_S = 1;
export const MAX_TOKEN_LIFETIME_S = 7 * 86_400;

export interface SubscriberClaims {
  tenantId: string;
  subscriberId: string;
  /**
   * When the subscriber the token is for was created (epoch ms): a token opens nothing for another
   * subscriber of the same id, created after an erasure.
   */
  subscriberCreatedAt?: number;
}

export interface VerifiedSubscriberToken extends SubscriberClaims {
  /** When the token stops being valid (epoch ms): open streams close then. */
  expiresAt: number;
  /** When it was minted (epoch ms, whole seconds); null for a token without `iat`. */
  issuedAt: number | null;
}

/**
 * The lifetime a mint asks for, in whole seconds: a duration string ("90s", "1h", "7d") or a
 * number of seconds. Answers null when it is not one, or outside 1 s … 7 d (or below a second).
 */
export function tokenLifetimeSeconds(expiresIn: string | number): number | null {
  const seconds = typeof expiresIn === 'number' ? expiresIn : (parseDuration(expiresIn) ?? Number.NaN) / 1000;
  if (!Number.isInteger(seconds)) return null;
  return seconds >= MIN_TOKEN_LIFETIME_S && seconds <= MAX_TOKEN_LIFETIME_S ? seconds : null;
}

/** Mints HMAC-signed (HS256), expiring subscriber tokens for the browser inbox. */
export async function mintSubscriberToken(
  key: Uint8Array,
  claims: SubscriberClaims,
  lifetimeSeconds = DEFAULT_TOKEN_LIFETIME_S,
  nowMs = Date.now(),
): Promise<{ token: string; expiresAt: number }> {
  const iat = Math.floor(nowMs / 1000);
  // From the next whole second: a token lives at least the lifetime asked for (at most a second
  // more). Counted from the current second, a "1s" token minted at .741 lived 259 ms.
  const exp = Math.ceil(nowMs / 1000) + lifetimeSeconds;
  const extra = claims.subscriberCreatedAt === undefined ? {} : { sca: claims.subscriberCreatedAt };
  const token = await new SignJWT({ tid: claims.tenantId, ...extra })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.subscriberId)
    .setAudience('tidings:inbox')
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
  return { token, expiresAt: exp * 1000 };
}

/**
 * Answers the claims of a valid token, or null for a forged, malformed or expired one — and for
 * one without `exp`: a token that never expires could never be taken back. Each of its three
 * segments must be canonical base64url: jose decodes them leniently (padding, whitespace, the
 * last character's unused bits), and a token is one string, not every spelling of its bytes.
 */
export async function verifySubscriberToken(
  key: Uint8Array,
  token: string,
): Promise<VerifiedSubscriberToken | null> {
  const segments = token.split('.');
  if (segments.length !== 3 || !segments.every(isCanonicalBase64url)) return null;
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      audience: 'tidings:inbox',
      requiredClaims: ['exp'],
    });
    if (typeof payload.tid !== 'string' || typeof payload.sub !== 'string') return null;
    if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) return null;
    const issuedAt =
      typeof payload.iat === 'number' && Number.isFinite(payload.iat) ? payload.iat * 1000 : null;
    const created = Number.isSafeInteger(payload.sca) ? { subscriberCreatedAt: payload.sca as number } : {};
    return {
      tenantId: payload.tid,
      subscriberId: payload.sub,
      expiresAt: payload.exp * 1000,
      issuedAt,
      ...created,
    };
  } catch (error) {
    if (error instanceof errors.JOSEError) return null;
    throw error;
  }
}
