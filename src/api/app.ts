import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { ID_MAX_LENGTH } from '../ingest/fields.ts';
import { isStoreUnavailable, type StoreUnavailableError } from '../store/errors.ts';
import { createAuthenticator, presentsSubscriberToken } from './auth.ts';
import { refuseOtherBodies } from './body-types.ts';
import { closeConnectionsWhenClosing } from './close-connections.ts';
import { connectionLimits, openFilesLimit } from './connection-limits.ts';
import type { ApiContext, AuthMode } from './context.ts';
import { corsHeaders, isBrowserFacing, isReceipt, preflightHeaders } from './cors.ts';
import { ApiError } from './errors.ts';
import { forgetKeysOnRevocation } from './key-revocations.ts';
import { unreadBodyError } from './no-body.ts';
import { describeOperations, openapiPath } from './openapi/document.ts';
import {
  contentEncodingError,
  headerText,
  jsonCharsetError,
  printable,
  repeatedHeaderError,
  STRICT_UTF8,
} from './request-framing.ts';
import { deviceRoutes } from './routes/devices.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { inboxRoutes } from './routes/inbox.ts';
import { inboxScriptRoutes } from './routes/inbox-script.ts';
import { inboxStreamRoutes } from './routes/inbox-stream.ts';
import { integrationRoutes } from './routes/integrations.ts';
import { layoutRoutes } from './routes/layouts.ts';
import { listingRoutes } from './routes/listing.ts';
import { messageRoutes } from './routes/messages.ts';
import { personalDataRoutes } from './routes/personal-data.ts';
import { preferencePageRoutes } from './routes/preference-page.ts';
import { preferenceRoutes } from './routes/preferences.ts';
import { providerWebhookRoutes } from './routes/provider-webhooks.ts';
import { receiptRoutes } from './routes/receipts.ts';
import { settingsRoutes } from './routes/settings.ts';
import { subscriberRoutes } from './routes/subscribers.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { trackingRoutes } from './routes/tracking.ts';
import { unsubscribeRoutes } from './routes/unsubscribe.ts';
import { webhookEndpointRoutes } from './routes/webhook-endpoints.ts';
import { workflowRoutes } from './routes/workflows.ts';
import { typeboxValidatorCompiler } from './validation.ts';

/** Fastify's own errors that are the client's fault, by code, mapped into our catalogue. */
function fromFastifyError(error: FastifyError): ApiError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'the request body is larger than this endpoint accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('invalid_json', error.message);
    case 'FST_ERR_BAD_URL':
      return new ApiError('validation_failed', 'the path is not valid (bad percent-encoding)', [
        { path: 'path', message: 'is not a valid URL component' },
      ]);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError(
        'uri_too_long',
        `a path segment is longer than ${MAX_PATH_SEGMENT} characters (ids are at most ${ID_MAX_LENGTH})`,
      );
    default:
      return fromStatus(error);
  }
}

/** Any other Fastify error with a client status keeps that status, in the catalogue's words. */
function fromStatus(error: FastifyError): ApiError | null {
  switch (error.statusCode) {
    case 404:
      return new ApiError('not_found', error.message);
    case 405:
      return new ApiError('method_not_allowed', error.message);
    case 413:
      return new ApiError('payload_too_large', error.message);
    case 414:
      return new ApiError('uri_too_long', error.message);
    case 415:
      return new ApiError('unsupported_media_type', error.message);
    case 431:
      return new ApiError('header_fields_too_large', error.message);
    default:
      return null;
  }
}

/**
 * A store that cannot take work now, as a 503 `unavailable` (the official client retries it). A
 * write may or may not have committed: a retry with the same idempotency key is answered from the
 * first if it did. Busy (locked past the timeout, restarting) passes in a second; a full disk
 * needs an operator, so it is logged as an error and clients are asked to wait longer.
 */
function storeUnavailable(error: StoreUnavailableError, request: FastifyRequest): ApiError {
  const url = request.routeOptions.url;
  if (error.why === 'out_of_space') {
    request.log.error({ err: error, url }, 'the store is out of disk space');
    return new ApiError('unavailable', 'the store is out of disk space; retry later', [], {
      'retry-after': String(OUT_OF_SPACE_RETRY_AFTER_S),
    });
  }
  request.log.warn({ err: error, url }, 'store unavailable');
  return new ApiError('unavailable', 'the store is busy; retry shortly', [], { 'retry-after': '1' });
}

/** Seconds a client is asked to wait while the store's disk is full: space is freed by hand. */
const OUT_OF_SPACE_RETRY_AFTER_S = 30;

/**
 * A path segment longer than this is answered 414 by the router before any route runs. It is
 * well above the id limit so that an id of 101–400 characters reaches its route and is refused
 * there with a 400 naming the field, like the same id in a body.
 */
const MAX_PATH_SEGMENT = 4 * ID_MAX_LENGTH;

/**
 * Errors Node's HTTP parser meets before Fastify sees a request (headers too large, malformed
 * requests, timeouts): answered in the catalogue's shape on the raw socket, then closed.
 */
function onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // A request that timed out is closed without an answer: the catalogue has no 408, and the
  // client has stopped sending anyway.
  if (socket.writable && error.code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
    const apiError =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? new ApiError('header_fields_too_large', 'the request line and headers are larger than 16 KB')
        : new ApiError('validation_failed', 'the request is not valid HTTP');
    const body = JSON.stringify(apiError.toBody());
    socket.write(
      `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status]}\r\nContent-Type: application/json\r\n` +
        'X-Content-Type-Options: nosniff\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/**
 * Remembers every route's methods and path pattern, so that a request for a known path with
 * another method answers 405 with `Allow` instead of 404 (Fastify itself answers 404).
 */
function routeMethods(app: FastifyInstance): (path: string) => string[] {
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = ([] as string[]).concat(route.method).filter((method) => method !== 'OPTIONS');
    // CORS answers OPTIONS on every path: it says nothing about which paths exist.
    if (methods.length === 0) return;
    const source = route.url
      .split('/')
      .map((segment) =>
        segment.startsWith(':')
          ? '[^/]+'
          : segment === '*'
            ? '.*'
            : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    routes.push({
      pattern: new RegExp(`^${source}/?$`),
      methods,
    });
  });
  return (path) => {
    const methods = new Set<string>();
    for (const route of routes) if (route.pattern.test(path)) for (const m of route.methods) methods.add(m);
    return [...methods];
  };
}

/** How each route authenticates, by `METHOD /openapi/path`, for the OpenAPI document. */
function routeAuth(app: FastifyInstance): (key: string) => AuthMode {
  const modes = new Map<string, AuthMode>();
  app.addHook('onRoute', (route) => {
    for (const method of ([] as string[]).concat(route.method)) {
      modes.set(`${method} ${openapiPath(route.url)}`, route.config?.auth ?? 'server');
    }
  });
  return (key) => modes.get(key) ?? 'server';
}

/** What the URL the start banner prints opens on: what this is, and where to go next. */
const LANDING_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tidings</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; line-height: 1.5">
<h1>Tidings is running</h1>
<p>Self-hostable, multi-channel notification delivery. This server speaks JSON over HTTP: every
<code>/v1</code> route wants <code>Authorization: Bearer &lt;API key&gt;</code> (the key is in
<code>data/api-key</code> on an embedded install, or <code>TIDINGS_API_KEY</code>).</p>
<ul>
<li><a href="/openapi.json">/openapi.json</a>: the OpenAPI 3.1 document of every route, its answers and errors</li>
<li><a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a>: operations</li>
<li>The guides are in the repository's <code>docs/</code> folder: <code>docs/README.md</code> is the index,
<code>docs/getting-started.md</code> sends a first notification.</li>
</ul>
</body></html>
`;

/**
 * A JSON body's text (RFC 8259: UTF-8). Bytes that are not UTF-8 are a 400 `invalid_json`: read
 * leniently, each became U+FFFD and was stored in place of what was sent (`"Müller"` sent in
 * Latin-1 came back `"M\uFFFDller"`). A byte-order mark is kept, so the parser refuses it as before.
 */
function utf8Text(bytes: Buffer): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new ApiError(
      'invalid_json',
      'the body is not valid JSON: it holds bytes that are not UTF-8 (RFC 8259)',
    );
  }
}
function parseJson(body: string): unknown {
  // An empty body is allowed wherever a body is optional; required bodies fail validation instead.
  if (body.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    // The parser quotes the bytes it stopped at, which may be anything the client sent.
    throw new ApiError('invalid_json', `the body is not valid JSON: ${printable((error as Error).message)}`);
  }
  // Fastify validates no null body: without this, `null` passed for "no body" and a PUT answered 200.
  if (parsed === null)
    throw new ApiError('validation_failed', 'the body is JSON null: send an object, or no body', [
      { path: '', message: 'must be object' },
    ]);
  return parsed;
}

/**
 * The headers every answer carries: `X-Content-Type-Options: nosniff`, and on the browser-facing
 * routes the CORS headers (src/api/cors.ts).
 */
function setAnswerHeaders(
  request: IncomingMessage,
  response: ServerResponse,
  corsOrigins: readonly string[] | '*',
): void {
  response.setHeader('x-content-type-options', 'nosniff');
  if (request.url && isBrowserFacing(request.url)) setCorsHeaders(request, response, corsOrigins);
}

/** The CORS headers of a browser-facing answer (src/api/cors.ts), unless it is already on its way. */
function setCorsHeaders(
  request: IncomingMessage,
  response: ServerResponse,
  corsOrigins: readonly string[] | '*',
): void {
  if (response.headersSent) return;
  for (const [name, value] of Object.entries(corsHeaders(request.headers.origin, corsOrigins)))
    response.setHeader(name, value);
}

/** How long a closed upgrade answer's socket may wait for its client to close its side. */
const UPGRADE_CLOSE_GRACE_MS = 2_000;
/** Answers whose socket is already set to close (prepareUpgradeAnswer may run twice for one). */
const closing = new WeakSet<ServerResponse>();

/**
 * An upgrade request (`Connection: Upgrade`) comes through the server's 'upgrade' event — the
 * WebSocket plugin routes it, with a response of its own — never 'request': an HTTP answer to it
 * (a refused handshake, a 401, a 403, a 404, any other route's answer) gets the headers of every
 * answer here, and `Connection: close`. Node hands such a socket over whole and never closes it:
 * it is closed here once the answer is written (every one left open held a file descriptor for
 * good — anyone, without a key, could run the server out of connections, and a shutdown waited
 * on them). An accepted handshake writes no HTTP answer: its socket is the WebSocket's.
 * Idempotent; nothing for any other request.
 */
function prepareUpgradeAnswer(
  request: IncomingMessage & { upgrade?: boolean },
  response: ServerResponse,
  corsOrigins: readonly string[] | '*',
): void {
  if (request.upgrade !== true || response.headersSent) return;
  setAnswerHeaders(request, response, corsOrigins);
  response.setHeader('connection', 'close');
  if (closing.has(response)) return;
  closing.add(response);
  response.once('finish', () => {
    const socket = request.socket;
    socket.end();
    setTimeout(() => socket.destroy(), UPGRADE_CLOSE_GRACE_MS).unref();
  });
}

/**
 * Node's timeouts for receiving a request, `requestTimeoutMs` for the whole of it: headers within
 * Node's own 60 s (or the whole timeout, if shorter). Node checks them every
 * `connectionsCheckingInterval` (30 s by default, which would let a 1 s timeout run for 31): here
 * at a tenth of the timeout, at most every 5 s. Only requests still being received are checked,
 * so an open SSE stream or WebSocket is never cut.
 */
export function requestTimeouts(requestTimeoutMs: number) {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(60_000, requestTimeoutMs),
    connectionsCheckingInterval: Math.min(5_000, Math.max(50, Math.floor(requestTimeoutMs / 10))),
  };
}

/**
 * Builds the HTTP API. Authentication runs in `onRequest`, before the body is read, so an
 * unauthenticated caller can never make the server parse (or buffer) a large body.
 */
export async function buildApp(context: ApiContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: context.logger as FastifyBaseLogger,
    // Per-request lines would cost more than the requests themselves at ingest rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: context.config.bodyLimit,
    // Without a bound, a client dribbling a body (the unauthenticated preference page and
    // provider callbacks included) held its connection for as long as it liked.
    requestTimeout: context.config.requestTimeoutMs,
    http: requestTimeouts(context.config.requestTimeoutMs),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: 'array' } },
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    // Router errors (bad percent-encoding, over-long path segments) in the catalogue's shape.
    frameworkErrors: (error, request, reply: FastifyReply) => {
      const apiError =
        fromFastifyError(error as FastifyError) ?? new ApiError('validation_failed', error.message);
      prepareUpgradeAnswer(request.raw, reply.raw, context.config.corsOrigins);
      void reply.status(apiError.status).send(apiError.toBody());
    },
    clientErrorHandler: onClientError,
  });
  closeConnectionsWhenClosing(app);
  // Past this many open connections a new one is closed at once: clients can never take the
  // file descriptors the process needs for its database and its providers.
  app.server.maxConnections = connectionLimits(openFilesLimit(), context.config.maxStreams).connections;
  const methodsFor = routeMethods(app);
  const authOf = routeAuth(app);
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.decorateRequest('tenantId', '');
  app.decorateRequest('subscriberId', null);
  app.decorateRequest('subscriberToken', null);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      // An empty body is no body whatever its Content-Type says (API.md), its charset included.
      const bytes = body as Buffer;
      const charsetError = bytes.length > 0 ? jsonCharsetError(request.headers['content-type']) : null;
      if (charsetError) throw charsetError;
      done(null, parseJson(utf8Text(bytes)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  refuseOtherBodies(app, 'application/json');

  const { corsOrigins } = context.config;
  const authenticator = createAuthenticator({
    store: context.store,
    tokenKey: context.keys.tokenSigning,
    operatorKey: context.config.operatorKey,
  });
  // A key revoked by another process (or the CLI) stops working here at once too.
  const stopHearingRevocations = await forgetKeysOnRevocation(context.store, authenticator.forgetKeys);
  app.addHook('onClose', stopHearingRevocations);
  // Set on the raw response before Fastify even routes the request, so that every answer carries
  // them: refusals (a browser must be able to read the 401 that says "refresh your token", and a
  // 429's Retry-After), Fastify's own early errors (a bad URL, a too-long id) and hijacked streams.
  app.server.prependListener('request', (request: IncomingMessage, response: ServerResponse) =>
    setAnswerHeaders(request, response, corsOrigins),
  );
  // API.md writes list routes as templates (`GET /v1/messages?subscriberId=&…&cursor=`): a query
  // parameter sent empty is one not sent, so a client filling the template for its first page
  // (`?cursor=&limit=`) gets that page, not a 400 for a cursor it never had.
  app.addHook('preValidation', async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (query) for (const name of Object.keys(query)) if (query[name] === '') delete query[name];
    // An Idempotency-Key sent in UTF-8 is read as the key the client sent (headerText).
    const key = request.headers['idempotency-key'];
    if (typeof key === 'string') request.headers['idempotency-key'] = headerText(key);
    // A JSON body on a route that reads none is refused, not dropped unread. The open routes
    // (unsubscribe, preference page, provider callbacks) read their bodies by hand.
    const route = request.routeOptions;
    if (route.url !== undefined && route.schema?.body === undefined && route.config?.auth !== 'none') {
      const error = unreadBodyError(request.body);
      if (error) throw error;
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    prepareUpgradeAnswer(request.raw, reply.raw, corsOrigins);
    const repeated = repeatedHeaderError(request.raw.rawHeaders);
    if (repeated) throw repeated;
    if (request.method === 'OPTIONS') {
      if (
        request.headers['access-control-request-method'] &&
        (isBrowserFacing(request.url) || isReceipt(request.url))
      ) {
        reply.headers(preflightHeaders(request.headers['access-control-request-headers']));
        // The other browser routes have theirs already (setAnswerHeaders).
        if (isReceipt(request.url)) reply.headers(corsHeaders(request.headers.origin, corsOrigins));
        return reply.status(204).send();
      }
      return;
    }
    const config = request.routeOptions.config;
    if (
      config?.tokenInFirstMessage &&
      !request.headers.authorization &&
      !(request.query as { token?: unknown })?.token
    )
      return;
    // A path no route serves is a 404 for either valid credential: a web app's subscriber token on
    // an inbox path this version lacks is not a bad key (nor a failed authentication).
    const mode: AuthMode =
      config?.auth ?? (request.routeOptions.url === undefined ? 'server-or-subscriber' : 'server');
    try {
      await authenticator.authenticate(request, mode, config?.queryToken === true);
    } catch (error) {
      // A receipt refused for its subscriber token (expired, forged, its subscriber erased) is a
      // web app's: without CORS it could not read that it needs a new token.
      if (isReceipt(request.url) && presentsSubscriberToken(request))
        setCorsHeaders(request.raw, reply.raw, corsOrigins);
      throw error;
    }
    if (request.subscriberToken && isReceipt(request.url))
      setCorsHeaders(request.raw, reply.raw, corsOrigins);
  });

  // After authentication (onRequest), before any parser reads the body.
  app.addHook('preParsing', async (request) => {
    const coded = contentEncodingError(request.headers);
    if (coded) throw coded;
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    let apiError = error instanceof ApiError ? error : fromFastifyError(error);
    if (!apiError && isStoreUnavailable(error)) apiError = storeUnavailable(error, request);
    if (!apiError && error.statusCode && error.statusCode < 500) {
      apiError = new ApiError('validation_failed', error.message);
    }
    if (!apiError) {
      request.log.error({ err: error, url: request.routeOptions.url }, 'request failed');
      apiError = new ApiError('internal', 'something went wrong on our side; it has been logged');
    }
    context.metrics.httpErrors.inc({ code: apiError.errorCode });
    void reply.status(apiError.status).headers(apiError.headers).send(apiError.toBody());
  });
  app.setNotFoundHandler({}, (request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = methodsFor(path).filter((method) => method !== request.method);
    if (allowed.length > 0) {
      const error = new ApiError('method_not_allowed', `${request.method} is not allowed on ${path}`);
      void reply.status(405).header('allow', allowed.join(', ')).send(error.toBody());
      return;
    }
    const error = new ApiError('not_found', `no route for ${request.method} ${path}`);
    void reply.status(404).send(error.toBody());
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tidings API',
        version: '1.0.0',
        description:
          'Multi-channel notification delivery. Authenticate with `Authorization: Bearer <key>` ' +
          '(each operation says which credential in `x-tidings-auth`). Every error answers ' +
          '`{"error": {"code", "message", "details"}}` with a code from one catalogue (the `Error` schema). ' +
          'Guides: docs/README.md in the repository.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transformObject: (documents) =>
      'openapiObject' in documents
        ? describeOperations(documents.openapiObject, authOf)
        : documents.swaggerObject,
  });
  // Documented in itself: API.md has /openapi.json document every route, this one included.
  app.get('/openapi.json', { config: { auth: 'none' } }, async () => app.swagger());
  app.get('/', { config: { auth: 'none' }, schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(LANDING_PAGE),
  );

  for (const routes of [
    healthRoutes,
    eventRoutes,
    subscriberRoutes,
    deviceRoutes,
    preferenceRoutes,
    personalDataRoutes,
    settingsRoutes,
    workflowRoutes,
    layoutRoutes,
    integrationRoutes,
    listingRoutes,
    messageRoutes,
    receiptRoutes,
    inboxRoutes,
    inboxStreamRoutes,
    inboxScriptRoutes,
    unsubscribeRoutes,
    preferencePageRoutes,
    trackingRoutes,
    webhookEndpointRoutes,
  ]) {
    await app.register(async (scope) => routes(scope, context));
  }
  // A refused callback signature counts toward the same failed-authentication throttle as a wrong key.
  await app.register(async (scope) =>
    providerWebhookRoutes(scope, context, { refused: authenticator.refused }),
  );
  await app.register(async (scope) =>
    tenantRoutes(scope, context, { onKeyRevoked: authenticator.forgetKeys }),
  );
  return app;
}

const HEALTH_REQUEST_TIMEOUT_MS = 10_000;

/**
 * The operations endpoints alone (/healthz, /readyz, /metrics), for a `tidings worker` given
 * TIDINGS_WORKER_PORT: a worker otherwise opens no port.
 */
export async function buildHealthApp(
  context: Pick<ApiContext, 'store' | 'metrics' | 'logger' | 'workerHealth'>,
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: context.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Probes send small GETs; nothing here waits for a slow one.
    requestTimeout: HEALTH_REQUEST_TIMEOUT_MS,
    http: requestTimeouts(HEALTH_REQUEST_TIMEOUT_MS),
  });
  closeConnectionsWhenClosing(app);
  await healthRoutes(app, context);
  return app;
}
