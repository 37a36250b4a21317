import { createHmac, timingSafeEqual } from 'node:crypto';

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

// 128 bits of HMAC-SHA256: forging one is out of reach, and the link stays short in a header.
const MAC_BYTES = 16;

function mac(key: Buffer, body: string): Buffer {
  return createHmac('sha256', key).update('unsubscribe\u0000').update(body).digest().subarray(0, MAC_BYTES);
}

/**
 * A URL-safe token naming (tenant, subscriber, scope), HMAC-signed. It carries no expiry: the link
 * in a years-old email must still work, and all it can do is opt its own subscriber out.
 */
export function signUnsubscribeToken(key: Buffer, claims: UnsubscribeClaims): string {
  const scope = 'category' in claims.scope ? { c: claims.scope.category } : { w: claims.scope.workflow };
  const body = Buffer.from(JSON.stringify({ t: claims.tenantId, s: claims.subscriberId, ...scope })).toString(
    'base64url',
  );
  return `${body}.${mac(key, body).toString('base64url')}`;
}

/** The claims of a token this key signed, or null for anything else (forged, cut, altered). */
export function verifyUnsubscribeToken(key: Buffer, token: string): UnsubscribeClaims | null {
  if (token.length > 2048) return null;
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined) return null;
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(key, body);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    const { t, s, c, w } = claims;
    if (typeof t !== 'string' || typeof s !== 'string') return null;
    if (typeof c === 'string') return { tenantId: t, subscriberId: s, scope: { category: c } };
    if (typeof w === 'string') return { tenantId: t, subscriberId: s, scope: { workflow: w } };
    return null;
  } catch {
    return null;
  }
}

/** The link an email's List-Unsubscribe header carries: a path in the public URL is kept. */
export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/v1/unsubscribe/${token}`;
}
