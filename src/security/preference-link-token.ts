import { openLink, publicLink, signLink } from './signed-link.ts';

export interface PreferenceLinkClaims {
  tenantId: string;
  subscriberId: string;
  /** When the link stops opening the page (epoch ms). */
  expiresAt: number;
  /**
   * When the subscriber was created (epoch ms): the link opens nothing of another subscriber of
   * the same id, created after an erasure.
   */
  subscriberCreatedAt?: number;
}

/**
 * How long a `{{ links.preferences }}` link opens the preference page. Unlike the one-click
 * unsubscribe link (which can only opt out, and must work forever), this one lets whoever holds it
 * change every choice — opt back in included — so a forwarded or leaked email stops granting that
 * after a while; the unsubscribe link in the same email keeps working.
 */
export const PREFERENCE_LINK_LIFETIME_MS = 90 * 86_400_000;

const PURPOSE = 'preferences';

/** A URL-safe token naming (tenant, subscriber) until `expiresAt`, HMAC-signed. */
export function signPreferenceLinkToken(key: Buffer, claims: PreferenceLinkClaims): string {
  const fields: Record<string, unknown> = {
    t: claims.tenantId,
    s: claims.subscriberId,
    e: Math.floor(claims.expiresAt / 1000),
  };
  if (claims.subscriberCreatedAt !== undefined) fields.c = claims.subscriberCreatedAt;
  return signLink(key, PURPOSE, fields);
}

/**
 * The claims of a token this key signed (expired or not: the caller says which it was), or null
 * for anything else — forged, cut, altered.
 */
export function verifyPreferenceLinkToken(
  key: Buffer | readonly Buffer[],
  token: string,
): PreferenceLinkClaims | null {
  const fields = openLink(key, PURPOSE, token);
  if (!fields) return null;
  const { t, s, e, c } = fields;
  if (typeof t !== 'string' || typeof s !== 'string' || typeof e !== 'number' || !Number.isFinite(e))
    return null;
  const claims: PreferenceLinkClaims = { tenantId: t, subscriberId: s, expiresAt: e * 1000 };
  if (typeof c === 'number' && Number.isFinite(c)) claims.subscriberCreatedAt = c;
  return claims;
}

/** The page a link opens: a path in the public URL is kept. */
export function preferencePageUrl(publicUrl: string, token: string): string {
  return publicLink(publicUrl, `/v1/preferences-page?token=${token}`);
}
