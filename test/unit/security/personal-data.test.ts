import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newDataKey, PersonalData } from '../../../src/security/personal-data.ts';
import { ensureDataKey, PERSONAL_DATA_KEY_SETTING } from '../../../src/security/personal-data-key.ts';
import { inspectSealedValues, resealValues } from '../../../src/security/sealed-values.ts';
import { deriveKeys } from '../../../src/security/secrets.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';

describe('personal data sealing', () => {
  it('seals each value apart (a fresh IV), opens it, refuses a tampered or foreign one, and reads legacy clear values as they are', () => {
    const personal = new PersonalData(newDataKey(), false);
    const a = personal.seal('ada@example.com');
    const b = personal.seal('ada@example.com');
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^pd1\\.${personal.keyId}\\.`));
    expect([personal.open(a), personal.open(b)]).toEqual(['ada@example.com', 'ada@example.com']);
    const parts = a.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[4] = body.toString('base64url');
    expect(() => personal.open(parts.join('.'))).toThrow();
    expect(() => new PersonalData(newDataKey(), false).open(a)).toThrow(/data key/);
    expect(personal.open('ada@example.com')).toBe('ada@example.com');
  });

  it('hashes with a key: the same value and purpose give the same hash, another purpose or key another', () => {
    const key = newDataKey();
    const one = new PersonalData(key, false);
    const same = new PersonalData(key, false);
    expect(one.hash('address:email', 'ada@example.com')).toBe(same.hash('address:email', 'ada@example.com'));
    expect(one.hash('address:email', 'ada@example.com')).not.toBe(one.hash('address:sms', 'ada@example.com'));
    expect(new PersonalData(newDataKey(), false).hash('address:email', 'ada@example.com')).not.toBe(
      one.hash('address:email', 'ada@example.com'),
    );
  });
});

describe('the personal data key across master secret rotations', () => {
  const A = 'secret-a-0123456789abcdef0123456789';
  const B = 'secret-b-0123456789abcdef0123456789';
  let store: Store;
  beforeEach(() => {
    store = openSqliteStore({ file: ':memory:' });
  });
  afterEach(async () => {
    await store.close();
  });

  it('is made once, re-sealed under a new secret given the previous one, and opens under no other secret', async () => {
    const first = await ensureDataKey(store, deriveKeys(A).credentialKeyring);
    expect((await ensureDataKey(store, deriveKeys(A).credentialKeyring)).key).toEqual(first.key);

    const rotating = deriveKeys(B, [A]).credentialKeyring;
    const report = await inspectSealedValues(store, rotating);
    expect(report.unopened).toEqual([]);
    expect(report.personalDataKey.next).not.toBeNull();
    const before = await store.getSetting(PERSONAL_DATA_KEY_SETTING);
    await resealValues(store, rotating, report);
    expect(await store.getSetting(PERSONAL_DATA_KEY_SETTING)).not.toBe(before);

    // After the rotation the new secret alone opens it: the same key, so every sealed row still opens.
    const rotated = await ensureDataKey(store, deriveKeys(B).credentialKeyring);
    expect(rotated.key).toEqual(first.key);
    expect((await inspectSealedValues(store, deriveKeys(A).credentialKeyring)).unopened).toContain(
      'the personal data key',
    );
  });
});
