const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * `text` (base64url without padding, its length not a multiple of 4) with the lowest bit of its
 * last character flipped: that bit carries nothing, so the decoded bytes stay the same.
 */
export function withUnusedBitsSet(text: string): string {
  if (text.length % 4 === 0) throw new Error('every bit of the last character is used');
  const last = ALPHABET.indexOf(text.at(-1) as string);
  const altered = `${text.slice(0, -1)}${ALPHABET[last ^ 1]}`;
  if (!Buffer.from(altered, 'base64url').equals(Buffer.from(text, 'base64url')))
    throw new Error('the altered bit was a used one');
  return altered;
}
