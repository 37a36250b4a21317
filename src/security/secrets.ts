import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The setting where versions before 0.x kept the generated master secret, in the database it
 * protects. Start-up moves it out (src/security/master-secret.ts); nothing writes it any more.
 */
export const MASTER_SECRET_SETTING = 'master_secret';

/**
 * Keys derived from the one master secret (TIDINGS_SECRET, or generated once and kept in a file
 * of its own): each use gets its own key, so a leak of one does not expose the others.
 */
export interface Keys {
  tokenSigning: Uint8Array;
  /** Signs the one-click unsubscribe links in emails (they never expire, so they get a key of their own). */
  unsubscribeSigning: Buffer;
  /** Signs the preference page links templates get as `{{ links.preferences }}`. */
  preferenceLinkSigning: Buffer;
  /** Signs the open-pixel and click-tracking links of emails (src/security/tracking-token.ts). */
  trackingSigning: Buffer;
  /**
   * Verify the links of emails already sent: each signing key above first, then the same key of
   * every previous secret (TIDINGS_SECRET_PREVIOUS). A rotation must not break the one-click
   * unsubscribe link of a years-old email (it never expires), nor its tracked links.
   */
  unsubscribeKeyring: readonly Buffer[];
  preferenceLinkKeyring: readonly Buffer[];
  trackingKeyring: readonly Buffer[];
  /** Seals new values. */
  credentials: Buffer;
  /**
   * Opens sealed values: `credentials` first, then the keys of previous secrets
   * (TIDINGS_SECRET_PREVIOUS) for values another process sealed before it was restarted.
   */
  credentialKeyring: readonly Buffer[];
  /** Keys the hash that names an erased subscriber in what is kept of them (src/privacy/erasure.ts). */
  erasure: Buffer;
}

function deriveCredentialKey(masterSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterSecret, 'tidings', 'credentials', 32));
}

/** A link-signing key of `secret` for `purpose`. */
function linkKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'tidings', purpose, 32));
}

export function deriveKeys(masterSecret: string, previousSecrets: readonly string[] = []): Keys {
  const credentials = deriveCredentialKey(masterSecret);
  const ring = (purpose: string) => [masterSecret, ...previousSecrets].map((s) => linkKey(s, purpose));
  const [unsubscribeSigning, ...unsubscribePrevious] = ring('unsubscribe');
  const [preferenceLinkSigning, ...preferencePrevious] = ring('preference-link');
  const [trackingSigning, ...trackingPrevious] = ring('tracking-link');
  return {
    tokenSigning: new Uint8Array(hkdfSync('sha256', masterSecret, 'tidings', 'subscriber-token', 32)),
    unsubscribeSigning: unsubscribeSigning!,
    preferenceLinkSigning: preferenceLinkSigning!,
    trackingSigning: trackingSigning!,
    unsubscribeKeyring: [unsubscribeSigning!, ...unsubscribePrevious],
    preferenceLinkKeyring: [preferenceLinkSigning!, ...preferencePrevious],
    trackingKeyring: [trackingSigning!, ...trackingPrevious],
    credentials,
    credentialKeyring: [credentials, ...previousSecrets.map(deriveCredentialKey)],
    erasure: Buffer.from(hkdfSync('sha256', masterSecret, 'tidings', 'erased-subscriber', 32)),
  };
}

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Hash under which an API key is stored; keys are 192-bit random, so SHA-256 is enough. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * A short public name of a derived key (its hash, not the key): sealed values carry it, so the
 * key that opens one is found without trying them all, and a value sealed under a secret this
 * process does not hold is recognised as such.
 */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('tidings key id').update(key).digest('base64url').slice(0, 11);
}

/** A sealed value that no key of the keyring opens (sealed under another master secret). */
export class SealedUnderOtherKey extends Error {
  override name = 'SealedUnderOtherKey';
}

/** Encrypts a JSON value with AES-256-GCM: `v2.<key id>.<iv>.<tag>.<ciphertext>` in base64url. */
export function seal(key: Buffer, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return `v2.${keyId(key)}.${[iv, cipher.getAuthTag(), body].map((p) => p.toString('base64url')).join('.')}`;
}

function open(key: Buffer, iv: string, tag: string, body: string): unknown {
  // A full 16-byte tag only: without authTagLength, OpenSSL checks whatever prefix it is given (4 bytes pass).
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
  return JSON.parse(text.toString('utf8'));
}

/** Which key of `keyring` opens `sealed` (its index), and the value; throws SealedUnderOtherKey if none does. */
export function unsealWithIndex<T>(
  keyring: Buffer | readonly Buffer[],
  sealed: string,
): { index: number; value: T } {
  const keys = Buffer.isBuffer(keyring) ? [keyring] : keyring;
  const parts = sealed.split('.');
  if (parts[0] === 'v2' && parts.length === 5) {
    const [, kid, iv, tag, body] = parts as [string, string, string, string, string];
    const index = keys.findIndex((key) => keyId(key) === kid);
    if (index < 0) throw new SealedUnderOtherKey('sealed under a key this process does not hold');
    return { index, value: open(keys[index]!, iv, tag, body) as T };
  }
  if (parts[0] === 'v1' && parts.length === 4) {
    // v1 values name no key: the first key whose authentication tag checks out is the one.
    const [, iv, tag, body] = parts as [string, string, string, string];
    for (let index = 0; index < keys.length; index++) {
      try {
        return { index, value: open(keys[index]!, iv, tag, body) as T };
      } catch {
        // not this key
      }
    }
    throw new SealedUnderOtherKey('sealed under a key this process does not hold');
  }
  throw new Error('sealed value has an unknown format');
}

/** Decrypts a value sealed by {@link seal} (or the older `v1.` format) with any key of `keyring`. */
export function unseal<T>(keyring: Buffer | readonly Buffer[], sealed: string): T {
  return unsealWithIndex<T>(keyring, sealed).value;
}
