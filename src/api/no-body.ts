import { type ApiError, validationError } from './errors.ts';

/**
 * The 400 for a JSON body sent to a route that reads none (`POST /v1/inbox/read-all`,
 * `POST …/rotate`, the DELETEs…), or null when there is nothing to refuse: no body, or `{}`.
 * Such a route has no body schema, so Fastify validated nothing and the body was dropped unread:
 * `{"category": "social"}` on read-all answered 200 and read every item, and `[]` or `7` passed
 * where a route with a schema answers 400 (docs/api-behaviour-notes.md). A field is named as any
 * unknown field is.
 */
export function unreadBodyError(body: unknown): ApiError | null {
  if (body === undefined) return null;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const fields = Object.keys(body);
    if (fields.length === 0) return null;
    return validationError(
      fields.map((path) => ({ path, message: 'is not a known field: this route takes no body' })),
    );
  }
  return validationError([{ path: '', message: 'must be absent (or {}): this route takes no body' }]);
}
