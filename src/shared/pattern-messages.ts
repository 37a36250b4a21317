/**
 * A regular expression is no answer to a person: a 400 used to say `must match pattern
 * "^[^\s/?#\u0000-…]+$"`. A schema with a `pattern` carries what it accepts in words under
 * this keyword, and src/api/validation.ts says those words instead. The `x-` prefix makes it an
 * extension keyword: JSON Schema and OpenAPI 3.1 readers (and /openapi.json) ignore it.
 */
export const PATTERN_MESSAGE = 'x-pattern-message';

/**
 * The same for a record's keys: TypeBox turns the key schema into a bare `patternProperties`
 * regex, so its words are kept on the record itself.
 */
export const KEY_MESSAGE = 'x-key-message';

/** How a 400 says a map's key is outside its rule (`words` as a key schema carries them). */
export function invalidKey(words: string): string {
  return `is not a valid key: ${words}`;
}

/**
 * What a value outside each string `format` the schemas use is told, instead of `must match
 * format "email"`. Formats are global (Format.Set in src/ingest/fields.ts; `date-time` is
 * TypeBox's own, which wants seconds and a zone), so their words are too: every field of a
 * format says the same.
 */
export const FORMAT_MESSAGES: Readonly<Record<string, string>> = {
  email: 'must be an email address such as ada@example.com',
  'date-time':
    'must be a date and time in RFC 3339 form, with seconds and a time zone, e.g. 2026-12-06T09:00:00Z or 2026-12-06T10:00:00+01:00',
  'iana-time-zone': 'must be an IANA time zone such as Europe/Berlin',
  'bcp47-locale': 'must be a language tag such as en or pt-BR',
};
