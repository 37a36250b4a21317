/**
 * The last keyed hashes computed, by (purpose, value): inline recipients repeat (the same user
 * gets many notifications), and an HMAC costs a few microseconds of OpenSSL key set-up per call,
 * on the API thread, for each one. In memory only: it holds addresses the process is handling
 * anyway and is never written anywhere. Cleared when the key changes, so a hash under another key
 * is never answered.
 *
 * Bounded as two generations rather than a strict LRU: entries go into the young map; once it
 * holds half the limit it becomes the old one and the previous old one is dropped. A hit in the
 * old map moves up, so what is in use survives. A hit in the young map is one Map lookup (moving
 * an entry to the end of one Map on every hit, a strict LRU, cost 25 times that).
 */
export class KeyedHashMemo {
  readonly #generation: number;
  /** Values by purpose: keying by the value itself spares building (and hashing) a joined string per lookup. */
  #young = new Map<string, Map<string, string>>();
  #old = new Map<string, Map<string, string>>();
  #youngSize = 0;
  #oldSize = 0;

  constructor(limit: number) {
    this.#generation = Math.max(1, Math.floor(limit / 2));
  }

  /** The memoised hash of `value` for `purpose`, computing (and keeping) it with `compute` when absent. */
  get(purpose: string, value: string, compute: () => string): string {
    const young = this.#young.get(purpose)?.get(value);
    if (young !== undefined) return young;
    const hash = this.#old.get(purpose)?.get(value) ?? compute();
    this.#keep(purpose, value, hash);
    return hash;
  }

  #keep(purpose: string, value: string, hash: string): void {
    if (this.#youngSize >= this.#generation) {
      this.#old = this.#young;
      this.#oldSize = this.#youngSize;
      this.#young = new Map();
      this.#youngSize = 0;
    }
    let values = this.#young.get(purpose);
    if (values === undefined) {
      values = new Map();
      this.#young.set(purpose, values);
    }
    values.set(value, hash);
    this.#youngSize += 1;
  }

  clear(): void {
    this.#young = new Map();
    this.#old = new Map();
    this.#youngSize = 0;
    this.#oldSize = 0;
  }

  /** How many entries are held (an entry moved up from the old generation counts twice until it is dropped). */
  get size(): number {
    return this.#youngSize + this.#oldSize;
  }
}
