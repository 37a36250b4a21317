import { createHmac, timingSafeEqual } from 'node:crypto';
import { isCanonicalBase64url } from './base64url.ts';

/**
 * The one shape of every signed link Tidings puts in messages (one-click unsubscribe, preference
 * page, open and click tracking): `<base64url JSON fields>.<base64url MAC>`, the MAC an
 * HMAC-SHA256 of `<purpose>\0<body>` under a key of the link's own (src/security/secrets.ts).
 * The purpose keeps a token of one kind from ever passing for another, even under a shared key.
 */

// 128 bits of HMAC-SHA256: forging one is out of reach, and the link stays short (in a header, a
// footer, or a rewritten href).
const MAC_BYTES = 16;

/** Longer than any link Tidings signs: refused before any work is spent on it. */
const MAX_TOKEN_CHARS = 2048;

function mac(key: Buffer, purpose: string, body: string): Buffer {
  return createHmac('sha256', key).update(`${purpose}\u0000`).update(body).digest().subarray(0, MAC_BYTES);
}

/** A URL-safe token carrying `fields` (in their insertion order: the bytes are the JSON's). */
export function signLink(key: Buffer, purpose: string, fields: Record<string, unknown>): string {
  const body = Buffer.from(JSON.stringify(fields)).toString('base64url');
  return `${body}.${mac(key, purpose, body).toString('base64url')}`;
}

/**
 * The fields of a token this key (or one key of a keyring: the current secret's, then previous
 * ones') signed for `purpose`, or null for anything else (forged, cut, altered, another purpose's,
 * or spelled in any base64url but the one signLink writes). The caller still checks the fields'
 * types: they are only as well-formed as the code that signed them.
 */
export function openLink(
  key: Buffer | readonly Buffer[],
  purpose: string,
  token: string,
): Record<string, unknown> | null {
  if (token.length > MAX_TOKEN_CHARS) return null;
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined) return null;
  // One token, one spelling: a MAC with `=` padding, stray characters or altered unused bits
  // decodes to the same bytes, and would pass for the token that was issued.
  if (!isCanonicalBase64url(body) || !isCanonicalBase64url(signature)) return null;
  const given = Buffer.from(signature, 'base64url');
  const keys = Buffer.isBuffer(key) ? [key] : key;
  const signedBy = (k: Buffer) => {
    const expected = mac(k, purpose, body);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  if (!keys.some(signedBy)) return null;
  try {
    const fields: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    return fields !== null && typeof fields === 'object' && !Array.isArray(fields)
      ? (fields as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** `publicUrl` (TIDINGS_PUBLIC_URL) with `path` appended: a path in the public URL is kept. */
export function publicLink(publicUrl: string, path: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${path}`;
}
