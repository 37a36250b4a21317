import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from 'fastify';
import { isStoreUnavailable } from '../store/errors.ts';
import { createAuthenticator } from './auth.ts';
import type { ApiContext, AuthMode } from './context.ts';
import { corsHeaders, isBrowserFacing, preflightHeaders } from './cors.ts';
import { ApiError } from './errors.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { inboxRoutes } from './routes/inbox.ts';
import { inboxStreamRoutes } from './routes/inbox-stream.ts';
import { integrationRoutes } from './routes/integrations.ts';
import { messageRoutes } from './routes/messages.ts';
import { subscriberRoutes } from './routes/subscribers.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { workflowRoutes } from './routes/workflows.ts';
import { typeboxValidatorCompiler } from './validation.ts';

/** Fastify's own error codes that are the client's fault, mapped into our catalogue. */
function fromFastifyError(error: FastifyError): ApiError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'the request body is larger than this endpoint accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('invalid_json', error.message);
    default:
      return error.statusCode === 413 ? new ApiError('payload_too_large', error.message) : null;
  }
}

function parseJson(body: string): unknown {
  // An empty body is allowed wherever a body is optional; required bodies fail validation instead.
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new ApiError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
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
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: 'array' } },
  });
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.decorateRequest('tenantId', '');
  app.decorateRequest('subscriberId', null);
  app.decorateRequest('tokenExpiresAt', null);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    if ((body as string).length === 0) done(null, undefined);
    else done(new ApiError('unsupported_media_type', 'send the body as application/json'), undefined);
  });

  const { corsOrigins } = context.config;
  const authenticator = createAuthenticator({
    store: context.store,
    tokenKey: context.keys.tokenSigning,
    operatorKey: context.config.operatorKey,
  });
  // Set on the raw response before Fastify even routes the request, so that every answer carries
  // them: refusals (a browser must be able to read the 401 that says "refresh your token", and a
  // 429's Retry-After), Fastify's own early errors (a bad URL, a too-long id) and hijacked streams.
  app.server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    response.setHeader('x-content-type-options', 'nosniff');
    if (request.url && isBrowserFacing(request.url)) {
      for (const [name, value] of Object.entries(corsHeaders(request.headers.origin, corsOrigins))) {
        response.setHeader(name, value);
      }
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') {
      if (request.headers['access-control-request-method'] && isBrowserFacing(request.url)) {
        reply.headers(preflightHeaders(request.headers['access-control-request-headers']));
        return reply.status(204).send();
      }
      return;
    }
    const config = request.routeOptions.config;
    const mode: AuthMode = config?.auth ?? 'server';
    await authenticator.authenticate(request, mode, config?.queryToken === true);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    let apiError = error instanceof ApiError ? error : fromFastifyError(error);
    if (!apiError && isStoreUnavailable(error)) {
      // Busy past the timeout, or the database is restarting. A write may or may not have
      // committed: a retry with the same idempotency key is answered from the first if it did.
      request.log.warn({ err: error, url: request.routeOptions.url }, 'store unavailable');
      apiError = new ApiError('unavailable', 'the store is busy; retry shortly', [], { 'retry-after': '1' });
    }
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
    const error = new ApiError('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`);
    void reply.status(404).send(error.toBody());
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tidings API', version: '1.0.0', description: 'Multi-channel notification delivery' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  app.get('/openapi.json', { config: { auth: 'none' }, schema: { hide: true } }, async () => app.swagger());

  for (const routes of [
    healthRoutes,
    eventRoutes,
    subscriberRoutes,
    workflowRoutes,
    integrationRoutes,
    messageRoutes,
    inboxRoutes,
    inboxStreamRoutes,
  ]) {
    await app.register(async (scope) => routes(scope, context));
  }
  await app.register(async (scope) =>
    tenantRoutes(scope, context, { onKeyRevoked: authenticator.forgetKeys }),
  );
  return app;
}

/**
 * The operations endpoints alone (/healthz, /readyz, /metrics), for a `tidings worker` given
 * TIDINGS_WORKER_PORT: a worker otherwise opens no port.
 */
export async function buildHealthApp(
  context: Pick<ApiContext, 'store' | 'metrics' | 'logger'>,
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: context.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  await healthRoutes(app, context);
  return app;
}
