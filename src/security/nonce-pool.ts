import { randomBytes } from 'node:crypto';

/** How many 96-bit nonces one draw from the CSPRNG yields (12 KiB). */
const NONCES_PER_DRAW = 1024;
const NONCE_BYTES = 12;

/**
 * Random 96-bit GCM nonces, drawn from the CSPRNG a thousand at a time: `randomBytes(12)` per seal
 * cost about as much as the encryption itself. Each nonce is a slice handed out once; a spent
 * block is dropped, never refilled in place, so a slice a caller still holds never changes and no
 * nonce is handed out twice. The nonces are as random as one draw each (same generator, same
 * bits), so the GCM bound on random nonces is unchanged.
 */
export class NoncePool {
  #block: Buffer = Buffer.alloc(0);
  #next = 0;

  take(): Buffer {
    if (this.#next + NONCE_BYTES > this.#block.length) {
      this.#block = randomBytes(NONCE_BYTES * NONCES_PER_DRAW);
      this.#next = 0;
    }
    const nonce = this.#block.subarray(this.#next, this.#next + NONCE_BYTES);
    this.#next += NONCE_BYTES;
    return nonce;
  }
}
