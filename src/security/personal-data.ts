import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { KeyedHashMemo } from './keyed-hash-memo.ts';
import { NoncePool } from './nonce-pool.ts';
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

/**
 * How many keyed hashes a store keeps at hand (src/security/keyed-hash-memo.ts): enough for the
 * addresses a busy installation notifies over a few minutes.
 */
const HASH_MEMO_LIMIT = 32_768;
/**
 * Only values up to this length are kept, in either memo (any email address or phone number): with
 * device tokens of up to 4 KiB, which any tenant can send, the hash memo could otherwise grow past
 * 100 MiB. Bounded so, it holds at most ~32k × 320 characters (about 20 MiB of strings) at worst.
 */
const MEMO_MAX_VALUE = 320;

/**
 * How many sealed addresses a store keeps at hand, by plaintext (sealAddress): enough for the
 * inline recipients a busy installation notifies over a few minutes. At most ~16k × (320 + ~490)
 * characters, about 13 MiB of strings, at worst.
 */
const SEALED_MEMO_LIMIT = 16_384;
/** The one purpose the sealed-address memo is kept under. */
const SEALED = 'sealed';

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
 * Seals, opens and hashes personal values under one data key. Keys are derived once, per store;
 * a stored value is opened each time a reader asks for it and never kept. The one plaintext held
 * is the recent addresses the process hashed or sealed (the memos below, in memory only, never
 * written): the same as the requests carrying them, gone on eviction, restart or erasure.
 */
export class PersonalData {
  private key: DataKey;
  /** The data key as OpenSSL keeps it: createCipheriv with a KeyObject skips importing raw bytes each call. */
  private cipherKey: KeyObject;
  private hashKey: Buffer;
  private readonly nonces = new NoncePool();
  private readonly hashes = new KeyedHashMemo(HASH_MEMO_LIMIT);
  private readonly sealedAddresses = new KeyedHashMemo(SEALED_MEMO_LIMIT);
  /** True until the installation's key is loaded: a store opened on its own (tests, tools) seals under a key of its own. */
  ephemeral: boolean;

  constructor(key: DataKey = newDataKey(), ephemeral = true) {
    this.key = key;
    this.cipherKey = createSecretKey(key.key);
    this.hashKey = deriveHashKey(key.key);
    this.ephemeral = ephemeral;
  }

  /** Switches to the installation's data key (start-up, before anything personal is read or written). */
  use(key: DataKey): void {
    this.key = key;
    this.cipherKey = createSecretKey(key.key);
    this.hashKey = deriveHashKey(key.key);
    this.hashes.clear();
    this.sealedAddresses.clear();
    this.ephemeral = false;
  }

  get keyId(): string {
    return this.key.id;
  }

  seal(plain: string): string {
    const iv = this.nonces.take();
    const cipher = createCipheriv('aes-256-gcm', this.cipherKey, iv);
    const head = cipher.update(plain, 'utf8');
    // GCM is a stream mode: final() computes the tag and adds no bytes, so nothing is copied.
    const tail = cipher.final();
    const body = tail.length === 0 ? head : Buffer.concat([head, tail]);
    return `${PREFIX}${this.key.id}.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
  }

  /**
   * Seals a subscriber's email address or phone number, answering the value sealed for the same
   * address a moment ago when the memo still has it: an inline recipient sent to again costs a
   * map lookup, and the row it rewrites gets the value it already holds. Handing out one
   * ciphertext twice reuses no nonce (nothing is encrypted again); it shows that two subscribers
   * share an address, which their equal keyed hashes show already.
   */
  sealAddress(plain: string): string {
    if (plain.length > MEMO_MAX_VALUE) return this.seal(plain);
    return this.sealedAddresses.get(SEALED, plain, () => this.seal(plain));
  }

  /**
   * Empties both memos (an erasure): whatever addresses the subscriber had, under any spelling,
   * none stays in this store's memory. Erasures are rare, and a few thousand keyed hashes and
   * seals rebuild the memos. Other threads and processes drop them on eviction or restart.
   */
  forgetRecentValues(): void {
    this.sealedAddresses.clear();
    this.hashes.clear();
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
    // A full 16-byte tag only: without authTagLength, OpenSSL would check a truncated tag's prefix.
    const decipher = createDecipheriv('aes-256-gcm', this.cipherKey, Buffer.from(parts[2]!, 'base64url'), {
      authTagLength: 16,
    });
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
    const compute = () =>
      createHmac('sha256', this.hashKey).update(purpose).update('\u0000').update(value).digest('hex');
    return value.length > MEMO_MAX_VALUE ? compute() : this.hashes.get(purpose, value, compute);
  }
}

function deriveHashKey(dataKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, 'tidings', 'personal-data-hash', 32));
}
