import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { keyId } from './secrets.ts';

/**
 * Personal data at rest (API.md "Personal data"): email addresses, phone numbers and device
 * tokens are stored sealed with AES-256-GCM under the installation's data key, and looked up by a
 * keyed hash (HMAC-SHA-256) where a query or a unique index needs one.
 *
 * The data key is random, made once per installation and kept in the settings table sealed
 * under the master secret's credentials key (src/security/personal-data-key.ts): rotating
 * TIDINGS_SECRET re-seals that one value instead of every row, and a copy of the database without
 * the master secret opens nothing. The hash key is derived from the data key, so hashes survive a
 * rotation of the master secret too.
 */

/** Marks a sealed personal value: `pd1.<key id>.<iv>.<tag>.<ciphertext>` (base64url). */
const PREFIX = 'pd1.';

export interface DataKey {
  /** The public name of the key (see keyId): sealed values carry it. */
  id: string;
  key: Buffer;
}

export function newDataKey(): DataKey {
  const key = randomBytes(32);
  return { id: keyId(key), key };
}

export function dataKeyFrom(key: Buffer): DataKey {
  return { id: keyId(key), key };
}

/** Whether a stored value is sealed (else it was written in clear by an earlier version). */
export function isSealedPersonal(value: string): boolean {
  return value.startsWith(PREFIX);
}

/**
 * Seals, opens and hashes personal values under one data key. Only keys are kept here (derived
 * once, per store), never a plaintext: a value is opened each time a reader asks for it.
 */
export class PersonalData {
  private key: DataKey;
  private hashKey: Buffer;
  /** True until the installation's key is loaded: a store opened on its own (tests, tools) seals under a key of its own. */
  ephemeral: boolean;

  constructor(key: DataKey = newDataKey(), ephemeral = true) {
    this.key = key;
    this.hashKey = deriveHashKey(key.key);
    this.ephemeral = ephemeral;
  }

  /** Switches to the installation's data key (start-up, before anything personal is read or written). */
  use(key: DataKey): void {
    this.key = key;
    this.hashKey = deriveHashKey(key.key);
    this.ephemeral = false;
  }

  get keyId(): string {
    return this.key.id;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${this.key.id}.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
  }

  sealNullable(plain: string | null | undefined): string | null {
    return plain === null || plain === undefined ? null : this.seal(plain);
  }

  /**
   * The plain value of a stored one. A value without the sealed prefix was written in clear
   * before encryption existed and is answered as it is (start-up seals those: resealLegacy).
   */
  open(stored: string): string {
    if (!stored.startsWith(PREFIX)) return stored;
    const parts = stored.split('.');
    if (parts.length !== 5) throw new Error('sealed personal value has an unknown format');
    if (parts[1] !== this.key.id)
      throw new Error(`personal value sealed under data key ${parts[1]}, not this installation's`);
    const decipher = createDecipheriv('aes-256-gcm', this.key.key, Buffer.from(parts[2]!, 'base64url'));
    decipher.setAuthTag(Buffer.from(parts[3]!, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(parts[4]!, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }

  openNullable(stored: string | null): string | null {
    return stored === null ? null : this.open(stored);
  }

  /**
   * A keyed hash of a value for lookups and unique keys. `purpose` separates uses (a phone
   * number's hash as a subscriber lookup is not its hash as a suppression). Hex, 64 characters.
   */
  hash(purpose: string, value: string): string {
    return createHmac('sha256', this.hashKey).update(purpose).update('\u0000').update(value).digest('hex');
  }
}

function deriveHashKey(dataKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, 'tidings', 'personal-data-hash', 32));
}
