import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** The setting that keeps the generated master secret (when TIDINGS_SECRET is unset). */
export const MASTER_SECRET_SETTING = 'master_secret';

/**
 * Keys derived from the one master secret (TIDINGS_SECRET, or generated once and kept in the
 * store): each use gets its own key, so a leak of one does not expose the others.
 */
export interface Keys {
  tokenSigning: Uint8Array;
  credentials: Buffer;
}

export function deriveKeys(masterSecret: string): Keys {
  const derive = (purpose: string) => Buffer.from(hkdfSync('sha256', masterSecret, 'tidings', purpose, 32));
  return { tokenSigning: new Uint8Array(derive('subscriber-token')), credentials: derive('credentials') };
}

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Hash under which an API key is stored; keys are 192-bit random, so SHA-256 is enough. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Encrypts a JSON value with AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>` in base64url. */
export function seal(key: Buffer, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

export function unseal<T>(key: Buffer, sealed: string): T {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined)
    throw new Error('sealed value has an unknown format');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
    'utf8',
  );
  return JSON.parse(text) as T;
}
