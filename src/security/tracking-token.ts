import { createHash } from 'node:crypto';
import { openLink, publicLink, signLink } from './signed-link.ts';

/** Whose message an open pixel or a tracked link reports on. */
export interface TrackingClaims {
  tenantId: string;
  messageId: string;
}

const OPEN = 'tracking-open';
const CLICK = 'tracking-click';

/**
 * The target's digest a click token carries instead of the target itself: the URL rides beside
 * the token as `?u=`, so a long URL does not make a path segment the router refuses, and the
 * token still signs exactly that URL (128 bits of SHA-256, like the MAC).
 */
function targetDigest(url: string): string {
  return createHash('sha256').update(url).digest().subarray(0, 16).toString('base64url');
}

/**
 * The open pixel's token. Neither kind expires: the message itself goes at the end of retention
 * (TIDINGS_RETENTION), after which a token names nothing and records nothing, and a click link in
 * an old email must still take its reader where it said.
 */
export function signOpenToken(key: Buffer, claims: TrackingClaims): string {
  return signLink(key, OPEN, { t: claims.tenantId, m: claims.messageId });
}

export function verifyOpenToken(key: Buffer | readonly Buffer[], token: string): TrackingClaims | null {
  const fields = openLink(key, OPEN, token);
  if (!fields) return null;
  const { t, m } = fields;
  return typeof t === 'string' && typeof m === 'string' ? { tenantId: t, messageId: m } : null;
}

/** A click token for `target` (an absolute http(s) URL, as {@link trackedClickUrl} gets it). */
export function signClickToken(key: Buffer, claims: TrackingClaims, target: string): string {
  return signLink(key, CLICK, { t: claims.tenantId, m: claims.messageId, h: targetDigest(target) });
}

/** The claims of a click token this key signed for exactly `target`, or null (forged, or another URL). */
export function verifyClickToken(
  key: Buffer | readonly Buffer[],
  token: string,
  target: string,
): TrackingClaims | null {
  const fields = openLink(key, CLICK, token);
  if (!fields) return null;
  const { t, m, h } = fields;
  if (typeof t !== 'string' || typeof m !== 'string' || typeof h !== 'string') return null;
  return h === targetDigest(target) ? { tenantId: t, messageId: m } : null;
}

/** `GET {publicUrl}/v1/t/o/{token}`: the 1×1 GIF whose fetch records `read`. */
export function openPixelUrl(publicUrl: string, token: string): string {
  return publicLink(publicUrl, `/v1/t/o/${token}`);
}

/** `GET {publicUrl}/v1/t/c/{token}?u={target}`: records `clicked`, then redirects to `target`. */
export function trackedClickUrl(publicUrl: string, token: string, target: string): string {
  return publicLink(publicUrl, `/v1/t/c/${token}?u=${encodeURIComponent(target)}`);
}
