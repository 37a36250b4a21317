import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from './errors.ts';

/**
 * Headers a request may carry once. Node keeps the first of a repeated `Authorization` or
 * `Content-Type` and drops the rest, while a proxy in front may have acted on the last: two
 * credentials, or two body types, are refused rather than resolved one way here and another
 * there.
 */
const SINGLE_HEADERS = ['authorization', 'content-type', 'idempotency-key'] as const;

/** 400 naming a header the request carries more than once, or null. */
export function repeatedHeaderError(rawHeaders: readonly string[]): ApiError | null {
  // Bit i: SINGLE_HEADERS[i] was seen. (Every request comes through here: no allocation.)
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i]!;
    let at = -1;
    for (let h = 0; h < SINGLE_HEADERS.length && at < 0; h++)
      if (SINGLE_HEADERS[h]!.length === raw.length && SINGLE_HEADERS[h] === raw.toLowerCase()) at = h;
    if (at < 0) continue;
    if (seen & (1 << at)) {
      const name = SINGLE_HEADERS[at]!;
      return new ApiError('validation_failed', `the ${name} header is given more than once; send it once`, [
        { path: name, message: 'must be given once' },
      ]);
    }
    seen |= 1 << at;
  }
  return null;
}

/** Throws on bytes that are not UTF-8; keeps a byte-order mark as text (a JSON parser refuses it). */
export const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A header's text as the client meant it. Node reads header bytes as Latin-1, so a key sent in
 * UTF-8 (curl, Go, most HTTP libraries: `Idempotency-Key: clé` is the bytes 63 6C C3 A9) read as
 * "clÃ©": it differed from the same key in the body (400 idempotency_key_mismatch), keyed another
 * event than the body's, and a character whose UTF-8 holds a byte 0x80–0x9F (`’`, `注`) was
 * refused as a control character. Bytes that are valid UTF-8 are read as UTF-8; others (a key
 * Latin-1 encoded, as fetch sends `é`: the one byte E9) stay Latin-1. ASCII is both.
 */
export function headerText(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value)) return value;
  try {
    return STRICT_UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** JSON is UTF-8 (RFC 8259 §8.1): a body declared in another charset is refused, not misread. */
export function jsonCharsetError(contentType: string | undefined): ApiError | null {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '')?.[1];
  if (charset === undefined || /^utf-?8$/i.test(charset)) return null;
  return new ApiError(
    'unsupported_media_type',
    `JSON bodies are UTF-8 (RFC 8259); charset=${printable(charset).slice(0, 40)} is not accepted`,
  );
}

/**
 * A body is read as it arrives: none is decompressed. One sent with a content coding (`gzip`,
 * `br`, `deflate`, …) would be parsed as if plain (its coded bytes, or plain JSON mislabelled), so
 * it is refused with 415 and `Accept-Encoding: identity` (RFC 7694 §3). `identity` is no coding.
 * Null when the request sends no body, or sends it uncoded.
 */
export function contentEncodingError(headers: IncomingHttpHeaders): ApiError | null {
  const header = headers['content-encoding'];
  if (header === undefined) return null;
  const hasBody = headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;
  const codings = header
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (!hasBody || codings.length === 0) return null;
  return new ApiError(
    'unsupported_media_type',
    `request bodies are read as sent: Content-Encoding ${printable(codings.join(', '), 40)} is not accepted; send the body uncompressed`,
    [{ path: 'content-encoding', message: 'must be identity, or left out' }],
    { 'accept-encoding': 'identity' },
  );
}

/**
 * Text from the request made safe to repeat in an error message: control characters, the
 * replacement character (bytes that were not UTF-8) and lone surrogates are shown escaped, and
 * the text is cut at `max` characters.
 */
export function printable(text: string, max = 200): string {
  let out = '';
  for (const char of text) {
    if (out.length >= max) return `${out}…`;
    const code = char.codePointAt(0)!;
    const unsafe =
      code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0xfffd || (code >= 0xd800 && code <= 0xdfff);
    out += unsafe ? `\\u${code.toString(16).padStart(4, '0')}` : char;
  }
  return out;
}
