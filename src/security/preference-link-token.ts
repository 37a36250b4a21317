import { createHmac, timingSafeEqual } from 'node:crypto';

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

// 128 bits of HMAC-SHA256, as the unsubscribe link: short enough for an email footer.
const MAC_BYTES = 16;

function mac(key: Buffer, body: string): Buffer {
  return createHmac('sha256', key).update('preferences\u0000').update(body).digest().subarray(0, MAC_BYTES);
}

/** A URL-safe token naming (tenant, subscriber) until `expiresAt`, HMAC-signed. */
export function signPreferenceLinkToken(key: Buffer, claims: PreferenceLinkClaims): string {
  const fields: Record<string, unknown> = {
    t: claims.tenantId,
    s: claims.subscriberId,
    e: Math.floor(claims.expiresAt / 1000),
  };
  if (claims.subscriberCreatedAt !== undefined) fields.c = claims.subscriberCreatedAt;
  const body = Buffer.from(JSON.stringify(fields)).toString('base64url');
  return `${body}.${mac(key, body).toString('base64url')}`;
}

/**
 * The claims of a token this key signed (expired or not: the caller says which it was), or null
 * for anything else — forged, cut, altered.
 */
export function verifyPreferenceLinkToken(key: Buffer, token: string): PreferenceLinkClaims | null {
  if (token.length > 2048) return null;
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined) return null;
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(key, body);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const fields = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    const { t, s, e, c } = fields;
    if (typeof t !== 'string' || typeof s !== 'string' || typeof e !== 'number' || !Number.isFinite(e))
      return null;
    const claims: PreferenceLinkClaims = { tenantId: t, subscriberId: s, expiresAt: e * 1000 };
    if (typeof c === 'number' && Number.isFinite(c)) claims.subscriberCreatedAt = c;
    return claims;
  } catch {
    return null;
  }
}

/** The page a link opens: a path in the public URL is kept. */
export function preferencePageUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/v1/preferences-page?token=${token}`;
}
