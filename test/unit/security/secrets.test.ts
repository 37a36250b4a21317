import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  deriveKeys,
  keyId,
  SealedUnderOtherKey,
  seal,
  unseal,
  unsealWithIndex,
} from '../../../src/security/secrets.ts';

/** The format before key ids: `v1.<iv>.<tag>.<ciphertext>`. */
function sealV1(key: Buffer, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

describe('sealing with key ids', () => {
  const current = deriveKeys('the-current-secret', ['the-previous-secret']);
  const previous = deriveKeys('the-previous-secret');

  it('seals as v2.<key id>.<iv>.<tag>.<ciphertext>, the key id a short hash that differs per secret', () => {
    const sealed = seal(current.credentials, { pass: 'p' });
    const [version, kid, ...rest] = sealed.split('.');
    expect(version).toBe('v2');
    expect(kid).toBe(keyId(current.credentials));
    expect(kid).toHaveLength(11);
    expect(kid).not.toBe(keyId(previous.credentials));
    expect(rest).toHaveLength(3);
    expect(sealed).not.toContain(current.credentials.toString('base64url'));
    expect(unseal(current.credentials, sealed)).toEqual({ pass: 'p' });
  });

  it('opens with the keyring key the value names, and v1 values with whichever key authenticates', () => {
    const keyring = current.credentialKeyring;
    expect(keyring).toHaveLength(2);
    expect(unsealWithIndex(keyring, seal(previous.credentials, 'old'))).toEqual({ index: 1, value: 'old' });
    expect(unsealWithIndex(keyring, seal(current.credentials, 'new'))).toEqual({ index: 0, value: 'new' });
    expect(unsealWithIndex(keyring, sealV1(previous.credentials, 'v1'))).toEqual({ index: 1, value: 'v1' });
  });

  it('refuses a value sealed under a key it does not hold, and a malformed one', () => {
    const stranger = deriveKeys('another-secret').credentials;
    expect(() => unseal(current.credentialKeyring, seal(stranger, 'x'))).toThrow(SealedUnderOtherKey);
    expect(() => unseal(current.credentialKeyring, sealV1(stranger, 'x'))).toThrow(SealedUnderOtherKey);
    expect(() => unseal(current.credentials, 'v3.a.b')).toThrow(/unknown format/);
  });

  it('refuses a value whose authentication tag was cut short', () => {
    const [version, kid, iv, tag, body] = seal(current.credentials, { pass: 'p' }).split('.');
    for (const bytes of [4, 8, 12]) {
      const short = Buffer.from(tag!, 'base64url').subarray(0, bytes).toString('base64url');
      expect(() => unseal(current.credentials, [version, kid, iv, short, body].join('.'))).toThrow();
    }
  });
});
