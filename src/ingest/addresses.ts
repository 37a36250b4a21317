/**
 * The address rules a subscriber's email and phone are held to, apart from the schemas that use
 * them (src/ingest/fields.ts): the channels check addresses at send time with these, and the
 * worker thread that runs them does not load TypeBox for it (~1 s of its start under tsx).
 */

// An address we can hand to any mail provider: a dot-atom local part (no quoted strings, so no
// CR/LF or spaces that could smuggle a header) and a domain with at least one dot and a
// top-level label of letters (or an IDNA `xn--` label). RFC 5321 limits: 64 + 1 + 255, 254 total.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const TOP_LABEL = '(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})';
const EMAIL = new RegExp(`^(?=.{1,64}@)${ATOM}(?:\\.${ATOM})*@(?:${LABEL}\\.)+${TOP_LABEL}$`);
export const EMAIL_MAX_LENGTH = 254;

/** Whether `value` is an email address Tidings accepts (see EMAIL above). */
export function isDeliverableEmail(value: string): boolean {
  return value.length <= EMAIL_MAX_LENGTH && EMAIL.test(value);
}

/** E.164: a plus, a country code that does not start with 0, at most 15 digits in all. */
export const PHONE_PATTERN = '^\\+[1-9][0-9]{6,14}$';
