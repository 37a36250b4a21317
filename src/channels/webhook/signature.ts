import { createHmac, randomBytes } from 'node:crypto';
import { ProviderConfigError } from '../port.ts';

/** Standard Webhooks marks base64 secrets with this prefix. */
const SECRET_PREFIX = 'whsec_';

/**
 * Signs a webhook the Standard Webhooks way (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `${id}.${timestampSeconds}.${body}`, returned as `v1,<base64>` for the `webhook-signature` header.
 * A `whsec_<base64>` secret is keyed by its decoded bytes; any other string by its UTF-8 bytes.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret))
    .update(`${id}.${timestampSeconds}.${body}`, 'utf8')
    .digest('base64');
  return `v1,${mac}`;
}

/** A fresh `whsec_` secret with 24 random bytes (192 bits), the size Standard Webhooks suggests. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

// Base64 or base64url, padded or not: what the Standard Webhooks libraries and their users write.
const BASE64_KEY = /^[A-Za-z0-9+/_-]+={0,2}$/;
/** 16 characters of base64: 12 bytes, the least a `whsec_` key may hold. */
const MIN_BASE64_KEY_LENGTH = 16;

/**
 * A `whsec_` secret given with a `PUT` must be base64 after the prefix. Node's decoder skips what
 * is not base64 instead of refusing it, so `whsec_` followed by anything else would sign with
 * fewer bytes than were given — none at all for `whsec_!!!!…`, a key everyone knows — while the
 * receiver's library refuses the secret. Throws ProviderConfigError naming the field.
 */
export function checkWebhookSecret(secret: unknown): void {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) return;
  const key = secret.slice(SECRET_PREFIX.length);
  if (!BASE64_KEY.test(key) || key.replace(/=+$/, '').length < MIN_BASE64_KEY_LENGTH) {
    throw new ProviderConfigError(
      'credentials.secret',
      `a ${SECRET_PREFIX} secret must be followed by at least ${MIN_BASE64_KEY_LENGTH} characters of base64 (or leave out the prefix to use the text itself)`,
    );
  }
}

function secretKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}
