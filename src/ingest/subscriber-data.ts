import Type from 'typebox';

/**
 * Most bytes a subscriber's `data` may take as JSON (UTF-8, compact, as `JSON.stringify` writes
 * it). A subscriber's data is read whole wherever they are: every delivery renders with it (a
 * delivery batch holds up to 32 jobs × 100 recipients' profiles at once), every inbox render,
 * preview and export carries it. Bounded only by the request body (1 MiB), 300 subscribers of
 * 900 KB in one topic and 20 events took a worker to 1.9 GB of memory: one tenant could starve
 * the host and every other tenant on it. 64 KiB is far more than a profile's custom fields need;
 * what is larger belongs in an event's `data`, which is read once per event.
 */
export const MAX_SUBSCRIBER_DATA_BYTES = 64 * 1024;

/**
 * Whether `value` takes at most MAX_SUBSCRIBER_DATA_BYTES as JSON in UTF-8: one JSON.stringify,
 * and its bytes counted only when its length leaves the answer open (a UTF-16 unit is 1 to 3
 * bytes in UTF-8; a surrogate pair, two units, is 4). A typical profile is a few hundred
 * characters: accepted on its length alone.
 */
function withinLimit(value: object): boolean {
  const json = JSON.stringify(value);
  if (json.length * 3 <= MAX_SUBSCRIBER_DATA_BYTES) return true;
  if (json.length > MAX_SUBSCRIBER_DATA_BYTES) return false;
  return Buffer.byteLength(json) <= MAX_SUBSCRIBER_DATA_BYTES;
}

/** `value`'s size as JSON in UTF-8 bytes, for the message of a refused one. */
const jsonBytes = (value: object) => Buffer.byteLength(JSON.stringify(value));

const SUBSCRIBER_DATA_MESSAGE = `must be at most ${MAX_SUBSCRIBER_DATA_BYTES} bytes as JSON (UTF-8)`;

/**
 * A subscriber's custom `data`: any JSON object of at most MAX_SUBSCRIBER_DATA_BYTES as JSON. The
 * size is a refinement: JSON Schema has no keyword for it, so /openapi.json says it in words
 * and as `x-max-json-bytes`. Only an object is measured: anything else fails the record's type.
 * The JSON limits (depth, NUL, numbers) are checked before any schema, so what is serialized
 * here is never deeper than 32 levels.
 */
export const SubscriberData = Type.Refine(
  Type.Record(Type.String(), Type.Unknown(), {
    description: `custom fields: a JSON object of at most ${MAX_SUBSCRIBER_DATA_BYTES} bytes as JSON (UTF-8)`,
    'x-max-json-bytes': MAX_SUBSCRIBER_DATA_BYTES,
  }),
  (value) => value === null || typeof value !== 'object' || withinLimit(value),
  (value) =>
    value !== null && typeof value === 'object'
      ? `${SUBSCRIBER_DATA_MESSAGE}; it is ${jsonBytes(value)} bytes`
      : SUBSCRIBER_DATA_MESSAGE,
);
