/**
 * CORS for the browser-facing routes only (API.md "Auth and errors"): the inbox and its streams,
 * `/inbox.js`, the unsubscribe link and the preference page; and a message's receipt sent with a
 * subscriber token, which API.md has sent "from the subscriber's device" — a web app is such a
 * device, and without CORS it could not send one (isReceipt). They are called from the customer's
 * own origin with bearer tokens (never cookies), so `Access-Control-Allow-Credentials` is never
 * sent. Their answers carry the headers on every status — a 401 a browser cannot read would hide
 * that its token needs refreshing, a 429 would hide its `Retry-After`. The server API sends none.
 */

const BROWSER_PATHS = ['/v1/inbox', '/inbox.js', '/v1/unsubscribe', '/v1/preferences-page'];
const PREFLIGHT_METHODS = 'GET, POST, PATCH, OPTIONS';
const DEFAULT_ALLOWED_HEADERS = 'Authorization, Content-Type, Last-Event-ID';
const PREFLIGHT_MAX_AGE_S = '600';

/** `POST /v1/messages/{messageId}/receipt`, with or without a query. */
const RECEIPT_PATH = /^\/v1\/messages\/[^/?]+\/receipt(?:\?|$)/;

/**
 * A receipt is server API when a server key sends it ("the server API sends none") and browser
 * facing when a subscriber token does: its answer gets CORS headers once the token is known
 * (src/api/app.ts), and its preflight, which carries no credential, always.
 */
export function isReceipt(url: string): boolean {
  return RECEIPT_PATH.test(url);
}

/** Whether `url` (path and query) is one of the browser-facing routes, or below one. */
export function isBrowserFacing(url: string): boolean {
  for (const prefix of BROWSER_PATHS) {
    if (!url.startsWith(prefix)) continue;
    const next = url.charCodeAt(prefix.length);
    // End of the path, a sub-path or a query: `/v1/inboxes` is not the inbox.
    if (Number.isNaN(next) || next === 0x2f || next === 0x3f) return true;
  }
  return false;
}

/**
 * The CORS headers of a browser-facing answer to a request from `origin`. With `*` the caller's
 * origin is reflected (or `*` without one); with a list, only a listed origin is allowed.
 */
export function corsHeaders(
  origin: string | undefined,
  allowed: readonly string[] | '*',
): Record<string, string> {
  const headers: Record<string, string> = { vary: 'Origin', 'access-control-expose-headers': 'Retry-After' };
  if (allowed === '*') headers['access-control-allow-origin'] = origin || '*';
  else if (origin && allowed.includes(origin)) headers['access-control-allow-origin'] = origin;
  return headers;
}

/**
 * Whether a request from `origin` may use the browser routes. Browsers hold fetch and EventSource
 * to the CORS headers, but not a WebSocket: its upgrade is checked here. A request without an
 * `Origin` is no browser page's (a server, a CLI) and passes.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[] | '*'): boolean {
  return allowed === '*' || origin === undefined || allowed.includes(origin);
}

/** What a preflight (`OPTIONS` with `Access-Control-Request-Method`) answer adds. */
export function preflightHeaders(requestedHeaders: string | undefined): Record<string, string> {
  return {
    'access-control-allow-methods': PREFLIGHT_METHODS,
    'access-control-allow-headers': requestedHeaders || DEFAULT_ALLOWED_HEADERS,
    'access-control-max-age': PREFLIGHT_MAX_AGE_S,
  };
}
