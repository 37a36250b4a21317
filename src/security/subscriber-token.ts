import { errors, jwtVerify, SignJWT } from 'jose';

export const DEFAULT_TOKEN_LIFETIME_S = 24 * 3600;

export interface SubscriberClaims {
  tenantId: string;
  subscriberId: string;
}

/** Mints HMAC-signed (HS256), expiring subscriber tokens for the browser inbox. */
export async function mintSubscriberToken(
  key: Uint8Array,
  claims: SubscriberClaims,
  lifetimeSeconds = DEFAULT_TOKEN_LIFETIME_S,
  nowMs = Date.now(),
): Promise<{ token: string; expiresAt: number }> {
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + lifetimeSeconds;
  const token = await new SignJWT({ tid: claims.tenantId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.subscriberId)
    .setAudience('tidings:inbox')
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
  return { token, expiresAt: exp * 1000 };
}

/** Answers the claims of a valid token, or null for a forged, malformed or expired one. */
export async function verifySubscriberToken(
  key: Uint8Array,
  token: string,
): Promise<SubscriberClaims | null> {
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], audience: 'tidings:inbox' });
    if (typeof payload.tid !== 'string' || typeof payload.sub !== 'string') return null;
    return { tenantId: payload.tid, subscriberId: payload.sub };
  } catch (error) {
    if (error instanceof errors.JOSEError) return null;
    throw error;
  }
}
