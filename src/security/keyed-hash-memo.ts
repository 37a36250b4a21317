/**
 * The last keyed hashes computed, by (purpose, value): inline recipients repeat (the same user
 * gets many notifications), and an HMAC costs a few microseconds of OpenSSL key set-up per call,
 * on the API thread, for each one. Bounded (least recently used goes first) and in memory only:
 * it holds addresses the process is handling anyway and is never written anywhere. Cleared when
 * the key changes, so a hash under another key is never answered.
 */
export class KeyedHashMemo {
  readonly #limit: number;
  readonly #hashes = new Map<string, string>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The memoised hash of `value` for `purpose`, computing (and keeping) it with `compute` when absent. */
  get(purpose: string, value: string, compute: () => string): string {
    const key = `${purpose}\u0000${value}`;
    const known = this.#hashes.get(key);
    if (known !== undefined) {
      // A Map iterates in insertion order: re-inserting makes this the most recently used.
      this.#hashes.delete(key);
      this.#hashes.set(key, known);
      return known;
    }
    const hash = compute();
    if (this.#hashes.size >= this.#limit) this.#hashes.delete(this.#hashes.keys().next().value!);
    this.#hashes.set(key, hash);
    return hash;
  }

  clear(): void {
    this.#hashes.clear();
  }

  get size(): number {
    return this.#hashes.size;
  }
}
