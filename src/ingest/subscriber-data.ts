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
 * Sizes already measured, so the checker's second pass (a refused value is checked, then walked
 * again for its errors and its message) does not serialize the same object again. Weak: the
 * parsed bodies they belong to are dropped with their requests.
 */
const measured = new WeakMap<object, number>();

/** `value`'s size as JSON in UTF-8 bytes: one JSON.stringify, never repeated for one object. */
export function jsonBytes(value: object): number {
  let bytes = measured.get(value);
  if (bytes === undefined) {
    bytes = Buffer.byteLength(JSON.stringify(value));
    measured.set(value, bytes);
  }
  return bytes;
}

export const SUBSCRIBER_DATA_MESSAGE = `must be at most ${MAX_SUBSCRIBER_DATA_BYTES} bytes as JSON (UTF-8)`;

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
  (value) => value === null || typeof value !== 'object' || jsonBytes(value) <= MAX_SUBSCRIBER_DATA_BYTES,
  (value) =>
    value !== null && typeof value === 'object'
      ? `${SUBSCRIBER_DATA_MESSAGE}; it is ${jsonBytes(value)} bytes`
      : SUBSCRIBER_DATA_MESSAGE,
);
