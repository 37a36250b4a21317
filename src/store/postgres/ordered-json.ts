// JSONB keeps an object's keys in an order of its own (shorter keys first, then bytewise), not
// the order they were sent in. Data a caller sends and reads back, and templates loop over (an
// event's data, a subscriber's data), is kept in its JSONB column as its JSON text — a JSONB
// string — so it comes back with its keys as sent, as on SQLite. SQL reads none of it; a value
// stored before is an object and is read as is.

/** `value` as its JSON text, to be stored as a JSONB string. */
export function asJsonText(value: object): string {
  return JSON.stringify(value);
}

/** A patch with its `data` object, when it has one, as JSON text. */
export function withDataText<T extends { data?: unknown }>(patch: T): T {
  const { data } = patch;
  if (data === null || typeof data !== 'object') return patch;
  return { ...patch, data: asJsonText(data) };
}
