import { httpStatusLine, parseRetryAfter } from '../http.ts';
import type { SendOutcome } from '../port.ts';

/**
 * A Google API error body (https://cloud.google.com/apis/design/errors), as FCM sends it:
 * `{"error": {"code", "message", "status", "details": [{"@type": "…FcmError", "errorCode"}, …]}}`.
 * Every field is optional here: a proxy or a test server may answer with anything.
 */
export interface GoogleError {
  /** The canonical status (`INVALID_ARGUMENT`, `NOT_FOUND`, `UNAUTHENTICATED`…). */
  status?: string;
  message?: string;
  /** FCM's own code from the `google.firebase.fcm.v1.FcmError` detail (`UNREGISTERED`…). */
  errorCode?: string;
  /** Fields a `google.rpc.BadRequest` detail names (`message.token`, `message.data[0].value`…). */
  fieldViolations: string[];
}

const FCM_ERROR_TYPE = /google\.firebase\.fcm\.v1\.FcmError(Code)?$/;
const BAD_REQUEST_TYPE = /google\.rpc\.BadRequest$/;
/** Enough of Google's message to say what went wrong, not a page of someone's HTML. */
const MAX_MESSAGE_CHARS = 200;

/** Reads a Google error body; an empty one when it is not one (an HTML page, a proxy's text). */
export function readGoogleError(bodyText: string): GoogleError {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return { fieldViolations: [] };
  }
  const error = (body as { error?: unknown } | null)?.error;
  if (typeof error !== 'object' || error === null) return { fieldViolations: [] };
  const { status, message, details } = error as Record<string, unknown>;
  const found: GoogleError = { fieldViolations: [] };
  if (typeof status === 'string') found.status = status;
  if (typeof message === 'string') found.message = message.slice(0, MAX_MESSAGE_CHARS);
  for (const detail of Array.isArray(details) ? details : []) {
    if (typeof detail !== 'object' || detail === null) continue;
    const type = String((detail as Record<string, unknown>)['@type'] ?? '');
    const { errorCode, fieldViolations } = detail as Record<string, unknown>;
    if (FCM_ERROR_TYPE.test(type) && typeof errorCode === 'string') found.errorCode ??= errorCode;
    if (BAD_REQUEST_TYPE.test(type) && Array.isArray(fieldViolations)) {
      for (const violation of fieldViolations) {
        const field = (violation as { field?: unknown } | null)?.field;
        if (typeof field === 'string') found.fieldViolations.push(field);
      }
    }
  }
  return found;
}

/**
 * True when FCM refused our OAuth access token (401 without an FCM error code): the adapter gets a
 * new one and tries once more. A 401 `THIRD_PARTY_AUTH_ERROR` is not about our token — the APNs
 * or web-push credentials in the Firebase project are bad — so it is not retried.
 */
export function isStaleAccessToken(status: number, error: GoogleError): boolean {
  return status === 401 && error.errorCode !== 'THIRD_PARTY_AUTH_ERROR';
}

/**
 * Maps an FCM HTTP v1 answer onto our outcomes, by the FCM error code first
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode), then the HTTP status:
 * - `UNREGISTERED` (404) → bad_address, device deactivated `unregistered`.
 * - `SENDER_ID_MISMATCH` (403) → bad_address `bad_token`: the token belongs to another sender, so
 *   this integration can never reach it.
 * - `INVALID_ARGUMENT` (400) that is about the registration token (the BadRequest detail names
 *   `message.token`, or there is no field detail and the message speaks of the registration
 *   token: "The registration token is not a valid FCM registration token") → bad_address
 *   `bad_token`; any other INVALID_ARGUMENT is about our payload → permanent.
 * - `QUOTA_EXCEEDED` (429), `UNAVAILABLE` (503), `INTERNAL` (500), and any 429/5xx →
 *   retryable, with `Retry-After` when sent.
 * - `THIRD_PARTY_AUTH_ERROR` (the APNs credentials uploaded to Firebase), 401 (our token refused
 *   even after a renewal), 403 (the service account may not send) → the integration itself is
 *   broken: retryable with `integrationFailed`, so the send fails over to the next integration.
 * - Other 4xx → permanent with the status and Google's message.
 */
export function classifyFcmResponse(
  status: number,
  error: GoogleError,
  retryAfterHeader: string | null,
  now: number,
): SendOutcome {
  const reason = describe(status, error);
  const code = error.errorCode;
  if (code === 'UNREGISTERED') return { kind: 'bad_address', reason, deactivate: 'unregistered' };
  if (code === 'SENDER_ID_MISMATCH') return { kind: 'bad_address', reason, deactivate: 'bad_token' };
  if (code === 'INVALID_ARGUMENT' && aboutRegistrationToken(error)) {
    return { kind: 'bad_address', reason, deactivate: 'bad_token' };
  }
  const transient = code === 'QUOTA_EXCEEDED' || code === 'UNAVAILABLE' || code === 'INTERNAL';
  if (transient || status === 429 || (status >= 500 && status < 600)) {
    const retryAfterMs = parseRetryAfter(retryAfterHeader, now);
    return retryAfterMs === undefined
      ? { kind: 'retryable', reason }
      : { kind: 'retryable', reason, retryAfterMs };
  }
  if (code === 'THIRD_PARTY_AUTH_ERROR' || status === 401 || status === 403) {
    return { kind: 'retryable', reason, integrationFailed: true };
  }
  return { kind: 'permanent', reason };
}

function aboutRegistrationToken(error: GoogleError): boolean {
  if (error.fieldViolations.length > 0) return error.fieldViolations.includes('message.token');
  return /registration token/i.test(error.message ?? '');
}

/** `HTTP 404 Not Found UNREGISTERED: Requested entity was not found.` */
function describe(status: number, error: GoogleError): string {
  const code = error.errorCode ?? error.status;
  const line = code ? `${httpStatusLine(status)} ${code}` : httpStatusLine(status);
  return error.message ? `${line}: ${error.message}` : line;
}
