/** Field-level problems with a request: `path` points into the body (or query/params), e.g. `to[1].email`. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * The one error catalogue: every failure the API reports has a stable code clients can
 * program against, an HTTP status, and a human message.
 */
export const ERROR_CODES = {
  validation_failed: 400,
  invalid_json: 400,
  idempotency_key_mismatch: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  idempotency_key_reused: 409,
  conflict: 409,
  payload_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  upgrade_required: 426,
  header_fields_too_large: 431,
  workflow_not_found: 422,
  topic_not_found: 422,
  credentials_required: 422,
  blocked_target: 422,
  unprocessable: 422,
  rate_limited: 429,
  too_many_failed_attempts: 429,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly errorCode: ErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = ERROR_CODES[errorCode];
  }

  toBody() {
    return { error: { code: this.errorCode, message: this.message, details: this.details } };
  }
}

/**
 * Most details one error lists; its message still counts them all ("(and 999 more)"). A bulk of
 * 1,000 events of 1,000 bad recipients each (a 2 MB body) was answered with a million details,
 * 112 MB, built and written on the event loop: every tenant's requests waited ~2 s (found by the
 * events audit). The first hundred say what is wrong; the rest are more of the same.
 */
export const MAX_ERROR_DETAILS = 100;
/**
 * Most details a bulk answer lists per refused item: a thousand items of a hundred details each
 * still made an answer of ~11 MB from a 2 MB body (found by the review).
 */
export const MAX_BULK_ITEM_DETAILS = 10;

/** 400: the input is malformed; `details` names each offending field (the first `max`). */
export function validationError(details: ErrorDetail[], where = 'body', max = MAX_ERROR_DETAILS): ApiError {
  return new ApiError('validation_failed', summarise(details, where), details.slice(0, max));
}

/** 422: well-formed, but the named fields cannot be used (an integration's config or credentials). */
export function unprocessableFields(details: ErrorDetail[], where = 'body'): ApiError {
  return new ApiError('unprocessable', summarise(details, where), details.slice(0, MAX_ERROR_DETAILS));
}

function summarise(details: ErrorDetail[], where: string): string {
  const first = details[0];
  const summary = first ? `${where}.${first.path || '(root)'} ${first.message}` : `invalid ${where}`;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return `${summary}${more}`;
}

export function notFound(what: string, id: string): ApiError {
  return new ApiError('not_found', `${what} "${id}" was not found`);
}
