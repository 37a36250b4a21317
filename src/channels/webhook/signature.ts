import { createHmac, randomBytes } from 'node:crypto';

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

function secretKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}
