import Type from 'typebox';
import { Format } from 'typebox/format';
import { PatternString } from '../shared/pattern-schemas.ts';
import { EMAIL_MAX_LENGTH, isDeliverableEmail, PHONE_PATTERN } from './addresses.ts';
import { SubscriberData } from './subscriber-data.ts';

/**
 * The field rules shared by events, subscribers and every route that names an id. They live
 * here, below both ingest/ and api/, so there is one definition of each (API.md, "Auth and
 * errors"): a limit that differs between two copies is how ids of 101–128 characters used to be
 * accepted at ingest and then answered 414 by every route.
 */

/** Longest id of any kind: subscriber, workflow, topic, device, integration, idempotency key. */
export const ID_MAX_LENGTH = 100;

// C0 and C1 controls, DEL, and the bidi embeddings/overrides/isolates that make an id display
// as something it is not (U+202A–202E, U+2066–2069).
export const FORBIDDEN_IN_ANY_ID = '\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';

/**
 * What a display name (a tenant's name, an API key's label, a workflow's or a topic's name) may
 * not hold: the controls ids refuse and every bidi formatting character — the embeddings,
 * overrides and isolates ids refuse, and also the marks (U+200E LRM, U+200F RLM, U+061C ALM),
 * which reorder the text around them as well. A name is shown in operators' terminals, logs and
 * lists, where "\u202e" or a mark next to digits makes it read as something else.
 */
export const FORBIDDEN_IN_NAMES = `${FORBIDDEN_IN_ANY_ID}\\u061c\\u200e\\u200f`;

const NAME_PATTERN = `^[^${FORBIDDEN_IN_NAMES}]*$`;
const NAME_CHARACTERS = new RegExp(NAME_PATTERN);
export const NAME_CHARACTERS_MESSAGE = 'must not contain control or bidi formatting characters';

// Blank: nothing but whitespace (as String#trim counts it: spaces of every width, NBSP, U+2028,
// U+2029; tabs and newlines are controls, refused as such), characters Unicode says show as
// nothing (Default_Ignorable_Code_Point: zero-width space and joiners, word joiner, soft hyphen,
// invisible operators, variation selectors, tag characters, the Hangul fillers…), combining marks
// with nothing to combine with, and the Braille blank. Such a name reads as no name in every list
// it appears in.
const BLANK = /^[\s\p{Default_Ignorable_Code_Point}\p{M}\u2800]*$/u;
export const BLANK_NAME_MESSAGE = 'must not be blank';

/** Whether `text` would show as no name at all (see BLANK). */
export function isBlankName(text: string): boolean {
  return BLANK.test(text);
}

/**
 * A display name at API input: a tenant's name, an API key's label, a workflow's or a topic's
 * name. Names already stored are not held to it: they load and list as they are, and only a
 * save of one through the API is refused (docs/api-behaviour-notes.md).
 */
export function DisplayName(maxLength: number) {
  const text = PatternString(NAME_PATTERN, NAME_CHARACTERS_MESSAGE, {
    maxLength,
    description: `not blank, at most ${maxLength} characters; no control or bidi formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)`,
  });
  // A refinement, not a second pattern: the answer to "   " is "must not be blank", apart from
  // the characters rule. It runs once the pattern and the length hold.
  return Type.Refine(
    text,
    (value) => !isBlankName(value),
    () => BLANK_NAME_MESSAGE,
  );
}

/**
 * Why `text` cannot be a display name (the API's rule, for what reaches the store another way:
 * the CLI), or null: at most `maxLength` characters, none of FORBIDDEN_IN_NAMES, not blank.
 */
export function displayNameProblem(text: string, maxLength: number): string | null {
  // Counted in code points, as the API's schema counts them (an emoji is one character).
  if ([...text].length > maxLength) return `must be 1–${maxLength} characters`;
  if (!NAME_CHARACTERS.test(text)) return NAME_CHARACTERS_MESSAGE;
  if (isBlankName(text)) return BLANK_NAME_MESSAGE;
  return null;
}

/** What a key may not hold, in the words of a 400 (its length is a 400 of its own). */
export const KEY_CHARACTERS_MESSAGE = 'must not contain control characters or bidi overrides';
/** The same for an id, which may also have to be named in a path. */
export const ID_CHARACTERS_MESSAGE = `must not be "." or "..", nor contain control characters or bidi overrides`;
const KEY_PATTERN = `^[^${FORBIDDEN_IN_ANY_ID}]*$`;
/** An id's pattern (no length: record keys add theirs). */
export const ID_PATTERN = `^(?!\\.\\.?$)[^${FORBIDDEN_IN_ANY_ID}]*$`;

/** 1–100 characters, none of them control or bidi-override characters, `pattern` aside. */
const lengthAndCharacters = (pattern: string, message: string, description: string) =>
  PatternString(pattern, message, { minLength: 1, maxLength: ID_MAX_LENGTH, description });

/**
 * An id, as API.md has them: 1–100 characters without control or bidi-override characters.
 * Spaces, '/', '?' and '#' are fine: a path carries them percent-encoded (`/v1/subscribers/a%2Fb`
 * is subscriber "a/b"), as the client library sends every id. "." and ".." are not: HTTP clients
 * resolve them out of a path as dot segments, so such a subscriber could never be read or erased.
 * The pattern takes the empty string: minLength says so on its own, in one message instead of two.
 */
export const Id = lengthAndCharacters(
  ID_PATTERN,
  ID_CHARACTERS_MESSAGE,
  `1–${ID_MAX_LENGTH} characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path)`,
);

const KEY_DESCRIPTION = `1–${ID_MAX_LENGTH} characters; no control or bidi-override characters`;
/** An idempotency key never appears in a path: "order 42/refund" and "." are fine. */
export const IdempotencyKey = lengthAndCharacters(KEY_PATTERN, KEY_CHARACTERS_MESSAGE, KEY_DESCRIPTION);
/** The key events share so one request can cancel them all (`DELETE /v1/events?cancellationKey=`). */
export const CancellationKey = lengthAndCharacters(KEY_PATTERN, KEY_CHARACTERS_MESSAGE, KEY_DESCRIPTION);

/** A duration as the API writes them: "90s", "10m", "2h", "1d" (and "500ms"). */
export const DURATION_PATTERN = '^\\d+(ms|s|m|h|d)$';
export const DURATION_MESSAGE =
  'must be a duration: a whole number and a unit (ms, s, m, h or d), such as "90s", "10m", "2h" or "1d"';

/** A time of day on a 24-hour clock, "00:00" to "23:59". */
export const CLOCK_TIME_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
export const CLOCK_TIME_MESSAGE = 'must be a time HH:MM (24 h), from 00:00 to 23:59';

// TypeBox's own `email` format takes `a@b` and quoted local parts holding CR/LF
// (`"a\r\nBcc: x"@example.com`): every `format: 'email'` in Tidings means the rule above.
Format.Set('email', isDeliverableEmail);

/** Formats the runtime can check exactly: Intl knows every IANA zone name and BCP 47 tag. */
Format.Set('iana-time-zone', (value) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
});
Format.Set('bcp47-locale', (value) => {
  try {
    return Intl.getCanonicalLocales(value).length === 1;
  } catch {
    return false;
  }
});

/** The fields a subscriber carries, the same in `PUT /v1/subscribers/{id}` and inline in `to`. */
export const SubscriberFields = {
  email: Type.Optional(
    Type.Union([Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH }), Type.Null()]),
  ),
  phone: Type.Optional(
    Type.Union([
      PatternString(
        PHONE_PATTERN,
        'must be a phone number in E.164 form: "+", then the country code and number, 7–15 digits in all, e.g. "+14155550123"',
      ),
      Type.Null(),
    ]),
  ),
  locale: Type.Optional(Type.Union([Type.String({ format: 'bcp47-locale', maxLength: 64 }), Type.Null()])),
  timezone: Type.Optional(
    Type.Union([
      Type.String({ format: 'iana-time-zone', maxLength: 64, description: 'e.g. Asia/Tokyo' }),
      Type.Null(),
    ]),
  ),
  data: Type.Optional(SubscriberData),
};
