import { openLink, publicLink, signLink } from './signed-link.ts';

/**
 * What a one-click unsubscribe link opts a subscriber out of: email for a workflow `category`, or
 * — for a workflow without one — that workflow as a whole (preferences have no per-workflow
 * channel choice, and an email nobody can unsubscribe from is what RFC 8058 exists to end).
 */
export type UnsubscribeScope = { category: string } | { workflow: string };

export interface UnsubscribeClaims {
  tenantId: string;
  subscriberId: string;
  scope: UnsubscribeScope;
  /**
   * The subscriber's creation time (epoch ms) when the link was made: the link opts out nobody
   * else of the id — a subscriber created after the first was erased. Links made before it was
   * carried have none and act on whoever holds the id.
   */
  subscriberCreatedAt?: number;
}

const PURPOSE = 'unsubscribe';

/**
 * A URL-safe token naming (tenant, subscriber, scope), HMAC-signed. It carries no expiry: the link
 * in a years-old email must still work, and all it can do is opt its own subscriber out.
 */
export function signUnsubscribeToken(key: Buffer, claims: UnsubscribeClaims): string {
  const scope = 'category' in claims.scope ? { c: claims.scope.category } : { w: claims.scope.workflow };
  const born = claims.subscriberCreatedAt === undefined ? {} : { b: claims.subscriberCreatedAt };
  return signLink(key, PURPOSE, { t: claims.tenantId, s: claims.subscriberId, ...scope, ...born });
}

/** The claims of a token this key signed, or null for anything else (forged, cut, altered). */
export function verifyUnsubscribeToken(
  key: Buffer | readonly Buffer[],
  token: string,
): UnsubscribeClaims | null {
  const fields = openLink(key, PURPOSE, token);
  if (!fields) return null;
  const { t, s, c, w, b } = fields;
  if (typeof t !== 'string' || typeof s !== 'string') return null;
  const scope = typeof c === 'string' ? { category: c } : typeof w === 'string' ? { workflow: w } : null;
  if (!scope) return null;
  const claims: UnsubscribeClaims = { tenantId: t, subscriberId: s, scope };
  if (typeof b === 'number' && Number.isFinite(b)) claims.subscriberCreatedAt = b;
  return claims;
}

/** The link an email's List-Unsubscribe header carries: a path in the public URL is kept. */
export function unsubscribeUrl(publicUrl: string, token: string): string {
  return publicLink(publicUrl, `/v1/unsubscribe/${token}`);
}
