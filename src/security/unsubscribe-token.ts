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
}

const PURPOSE = 'unsubscribe';

/**
 * A URL-safe token naming (tenant, subscriber, scope), HMAC-signed. It carries no expiry: the link
 * in a years-old email must still work, and all it can do is opt its own subscriber out.
 */
export function signUnsubscribeToken(key: Buffer, claims: UnsubscribeClaims): string {
  const scope = 'category' in claims.scope ? { c: claims.scope.category } : { w: claims.scope.workflow };
  return signLink(key, PURPOSE, { t: claims.tenantId, s: claims.subscriberId, ...scope });
}

/** The claims of a token this key signed, or null for anything else (forged, cut, altered). */
export function verifyUnsubscribeToken(key: Buffer, token: string): UnsubscribeClaims | null {
  const fields = openLink(key, PURPOSE, token);
  if (!fields) return null;
  const { t, s, c, w } = fields;
  if (typeof t !== 'string' || typeof s !== 'string') return null;
  if (typeof c === 'string') return { tenantId: t, subscriberId: s, scope: { category: c } };
  if (typeof w === 'string') return { tenantId: t, subscriberId: s, scope: { workflow: w } };
  return null;
}

/** The link an email's List-Unsubscribe header carries: a path in the public URL is kept. */
export function unsubscribeUrl(publicUrl: string, token: string): string {
  return publicLink(publicUrl, `/v1/unsubscribe/${token}`);
}
