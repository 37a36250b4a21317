import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Twilio's request signature (X-Twilio-Signature): HMAC-SHA1 under the account's auth token over
 * the full URL Twilio called (scheme, host, path, query) followed by every POST parameter, sorted
 * by name, as name then value with nothing between; base64.
 */
export function twilioSignature(
  authToken: string,
  url: string,
  params: readonly (readonly [string, string])[],
): string {
  const sorted = [...params].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  const hmac = createHmac('sha1', authToken).update(url, 'utf8');
  for (const [name, value] of sorted) hmac.update(name, 'utf8').update(value, 'utf8');
  return hmac.digest('base64');
}

/**
 * The spellings of `url` Twilio may have signed: as given, and with the scheme's default port
 * added or removed (Twilio's own libraries accept both, since what reaches the app depends on
 * proxies in between).
 */
function urlVariants(url: string): string[] {
  if (!URL.canParse(url)) return [url];
  const parsed = new URL(url);
  const defaultPort = parsed.protocol === 'https:' ? '443' : parsed.protocol === 'http:' ? '80' : null;
  if (defaultPort === null) return [url];
  const rest = `${parsed.pathname}${parsed.search}`;
  const withPort = `${parsed.protocol}//${parsed.hostname}:${parsed.port || defaultPort}${rest}`;
  const withoutPort = `${parsed.protocol}//${parsed.hostname}${rest}`;
  return [...new Set([url, ...(parsed.port && parsed.port !== defaultPort ? [] : [withPort, withoutPort])])];
}

/** True when `signature` is Twilio's for this request under `authToken` (compared in constant time). */
export function verifyTwilioSignature(
  authToken: string,
  url: string,
  params: readonly (readonly [string, string])[],
  signature: string | undefined,
): boolean {
  if (!signature || !authToken) return false;
  const given = Buffer.from(signature, 'utf8');
  let valid = false;
  for (const variant of urlVariants(url)) {
    const expected = Buffer.from(twilioSignature(authToken, variant, params), 'utf8');
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}
