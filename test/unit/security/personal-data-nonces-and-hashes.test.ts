import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyedHashMemo } from '../../../src/security/keyed-hash-memo.ts';
import { NoncePool } from '../../../src/security/nonce-pool.ts';
import { newDataKey, PersonalData } from '../../../src/security/personal-data.ts';

describe('the nonce pool', () => {
  it('hands out 12-byte nonces that never repeat and never change after they are handed out, across draws', () => {
    const pool = new NoncePool();
    const taken = Array.from({ length: 3000 }, () => pool.take());
    const copies = taken.map((nonce) => Buffer.from(nonce).toString('hex'));
    expect(taken.every((nonce) => nonce.length === 12)).toBe(true);
    expect(new Set(copies).size).toBe(3000);
    // 3000 nonces span three draws: the first ones still hold what they held when taken.
    expect(taken.map((nonce) => nonce.toString('hex'))).toEqual(copies);
  });
});

describe('the keyed hash memo', () => {
  it('computes a (purpose, value) once, keeps what is in use, and drops what was not used for two generations', () => {
    // A limit of 4: generations of 2.
    const memo = new KeyedHashMemo(4);
    let computed = 0;
    const hash = (purpose: string, value: string) =>
      memo.get(purpose, value, () => {
        computed += 1;
        return `${purpose}/${value}/${computed}`;
      });
    expect(hash('email', 'a')).toBe('email/a/1');
    expect(hash('sms', 'a')).toBe('sms/a/2');
    expect(hash('email', 'a')).toBe('email/a/1');
    // The young generation is full: it becomes the old one, and 'email b' starts a new one.
    expect(hash('email', 'b')).toBe('email/b/3');
    // A hit in the old generation moves up, so it outlives the next turn; 'sms a' does not.
    expect(hash('email', 'a')).toBe('email/a/1');
    expect(hash('email', 'c')).toBe('email/c/4');
    expect(hash('email', 'a')).toBe('email/a/1');
    expect(hash('sms', 'a')).toBe('sms/a/5');
    expect(memo.size).toBeLessThanOrEqual(4);
    memo.clear();
    expect(memo.size).toBe(0);
    expect(hash('email', 'a')).toBe('email/a/6');
  });
});

describe('personal data with its memo and nonce pool', () => {
  it('seals an address it sealed a moment ago to the same value (no new encryption), until the key changes or an erasure empties the memos', () => {
    const personal = new PersonalData(newDataKey(), false);
    const sealed = personal.sealAddress('ada@example.com');
    expect(personal.sealAddress('ada@example.com')).toBe(sealed);
    expect(personal.open(sealed)).toBe('ada@example.com');
    // seal() itself always encrypts afresh, and so does sealAddress for a value too long to keep.
    expect(personal.seal('ada@example.com')).not.toBe(sealed);
    const long = `${'a'.repeat(400)}@example.com`;
    expect(personal.sealAddress(long)).not.toBe(personal.sealAddress(long));
    const hashed = personal.hash('address:email', 'ada@example.com');
    personal.forgetRecentValues();
    const fresh = personal.sealAddress('ada@example.com');
    expect(fresh).not.toBe(sealed);
    // The keyed hash is computed again (the same value: only the memo was emptied).
    expect(personal.hash('address:email', 'ada@example.com')).toBe(hashed);
    expect(personal.sealAddress('ada@example.com')).toBe(fresh);
    personal.use(newDataKey());
    const rekeyed = personal.sealAddress('ada@example.com');
    expect(rekeyed).not.toBe(fresh);
    expect(personal.open(rekeyed)).toBe('ada@example.com');
  });

  it('answers the same hash as a fresh instance, and another one once it uses another key', () => {
    const key = newDataKey();
    const personal = new PersonalData(key, false);
    const first = personal.hash('address:email', 'ada@example.com');
    expect(personal.hash('address:email', 'ada@example.com')).toBe(first);
    expect(new PersonalData(key, false).hash('address:email', 'ada@example.com')).toBe(first);
    personal.use(newDataKey());
    expect(personal.hash('address:email', 'ada@example.com')).not.toBe(first);
  });

  it('refuses a sealed value whose tag was cut short', () => {
    const personal = new PersonalData(newDataKey(), false);
    const parts = personal.seal('ada@example.com').split('.');
    parts[3] = Buffer.from(parts[3]!, 'base64url').subarray(0, 12).toString('base64url');
    expect(() => personal.open(parts.join('.'))).toThrow();
  });

  it('opens a value sealed the way earlier versions sealed (raw key, a nonce of its own): the stored format is the same', () => {
    const key = newDataKey();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.key, iv);
    const body = Buffer.concat([cipher.update('ada@example.com', 'utf8'), cipher.final()]);
    const earlier = `pd1.${key.id}.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
    expect(new PersonalData(key, false).open(earlier)).toBe('ada@example.com');
  });
});
