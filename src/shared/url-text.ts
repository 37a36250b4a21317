/**
 * URLs a tenant gives (integration endpoints, webhook URLs, web push endpoints) hold no whitespace
 * and no control character: URL parsers silently drop tabs and line breaks, so such a URL would be
 * stored as one thing and called as another. Refused at the API, naming the field.
 */
const FORBIDDEN = '\\s\\u0000-\\u001f\\u007f';

/** A JSON-schema pattern: any URL text. */
export const URL_TEXT_PATTERN = `^[^${FORBIDDEN}]+$`;

/** A JSON-schema pattern: an http or https URL's text. */
export const HTTP_URL_TEXT_PATTERN = `^https?://[^${FORBIDDEN}]+$`;

/** A JSON-schema pattern: an https URL's text. */
export const HTTPS_URL_TEXT_PATTERN = `^https://[^${FORBIDDEN}]+$`;

/** What a value failing each pattern is told (instead of the pattern itself). */
export const URL_PATTERN_MESSAGES: ReadonlyMap<string, string> = new Map([
  [URL_TEXT_PATTERN, 'must be a URL without whitespace or control characters'],
  [HTTP_URL_TEXT_PATTERN, 'must be an http(s) URL without whitespace or control characters'],
  [HTTPS_URL_TEXT_PATTERN, 'must be an https URL without whitespace or control characters'],
]);

const forbidden = new RegExp(`[${FORBIDDEN}]`);

/** Whether `text` holds whitespace or a control character. */
export function hasUrlControlCharacters(text: string): boolean {
  return forbidden.test(text);
}
