/**
 * Whether `text` is base64url exactly as Tidings writes it (RFC 4648 §5, no padding): only the
 * URL-safe alphabet, and the very string that re-encoding its bytes gives back. A signed token
 * checks each of its segments with this before its signature: Node's and atob's decoders skip
 * `=` padding, whitespace and characters outside the alphabet, and drop the unused low bits of the
 * last character, so without it many strings decode to one signature and all of them would pass
 * for the one token that was issued.
 */
export function isCanonicalBase64url(text: string): boolean {
  return /^[A-Za-z0-9_-]*$/.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text;
}
