import Type, { type TObjectOptions, type TSchema, type TString, type TStringOptions } from 'typebox';
import { KEY_MESSAGE, PATTERN_MESSAGE } from './pattern-messages.ts';

// The schema builders apart from the words (pattern-messages.ts): code that only says the words,
// such as the template checks the worker thread runs, does not load TypeBox for them.

/**
 * A string held to `pattern`; a value outside it is answered with `message` ("must be …").
 *
 * @example
 * const ClockTime = PatternString('^([01][0-9]|2[0-3]):[0-5][0-9]$', 'must be a time HH:MM (24 h)');
 */
export function PatternString(pattern: string, message: string, options: TStringOptions = {}): TString {
  return Type.String({ ...options, pattern, [PATTERN_MESSAGE]: message });
}

/**
 * Type.Record whose keys are held to `key`'s pattern; a key outside it is answered with the key
 * schema's message (see PatternString).
 *
 * @example
 * PatternRecord(CategoryName, ChannelChoices, { additionalProperties: false });
 */
export function PatternRecord<Key extends TString, Value extends TSchema>(
  key: Key,
  value: Value,
  options: TObjectOptions = {},
) {
  return Type.Record(key, value, {
    ...options,
    [KEY_MESSAGE]: (key as Record<string, unknown>)[PATTERN_MESSAGE],
  });
}
