import { SignJWT } from 'jose';
import type { ServiceAccount } from './fcm-credentials.ts';

/** The OAuth scope FCM HTTP v1 sends require. */
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
/** RFC 7523 grant type: a signed JWT assertion in exchange for an access token. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google accepts assertions valid for at most one hour. */
const ASSERTION_LIFETIME_S = 3600;
/**
 * Renew this long before the access token expires, so a send that starts just before the expiry
 * does not arrive with a token Google already considers dead (Google's own client libraries
 * refresh about five minutes early too).
 */
const RENEW_BEFORE_MS = 5 * 60_000;

/** An access token and when it stops working (epoch ms). */
export interface AccessToken {
  token: string;
  expiresAt: number;
}

/**
 * The access token of one integration, shared by all its sends: exchanged once, reused until
 * shortly before it expires. Concurrent callers that find no usable token wait for the same single
 * exchange instead of starting one each (fifty sends at start-up cost one round trip to Google,
 * not fifty). A failed exchange is not cached: the next caller tries again.
 */
export class AccessTokenCache {
  private current: { token: string; renewAt: number } | null = null;
  private pending: Promise<string> | null = null;

  constructor(
    private readonly exchange: () => Promise<AccessToken>,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token usable now, exchanging a new one when there is none or it is about to expire. */
  get(): Promise<string> {
    if (this.current && this.now() < this.current.renewAt) return Promise.resolve(this.current.token);
    this.pending ??= this.renew().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /**
   * Forget `token` after the server refused it (401). Only that token: when several sends were
   * refused the same stale token at once, the first one's renewal is kept, not thrown away again.
   */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = null;
  }

  private async renew(): Promise<string> {
    const issuedAt = this.now();
    const { token, expiresAt } = await this.exchange();
    const lifetime = expiresAt - issuedAt;
    // A short-lived token (a test server's, or a clock far off) is renewed halfway, never at once.
    this.current = { token, renewAt: issuedAt + Math.max(lifetime - RENEW_BEFORE_MS, lifetime / 2) };
    return token;
  }
}

/**
 * The signed assertion (RFC 7523) for the service account: RS256, `iss` and `sub` the client
 * email, `aud` the token URI, the firebase.messaging scope, valid for an hour from `now`.
 */
export async function signAssertion(account: ServiceAccount, now: number): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ scope: FCM_SCOPE })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(account.clientEmail)
    .setSubject(account.clientEmail)
    .setAudience(account.tokenUri.href)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_S)
    .sign(account.privateKey);
}
