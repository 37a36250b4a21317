import type { FastifyInstance } from 'fastify';
import { hasUrlControlCharacters, URL_CONTROL_CHARACTERS_MESSAGE } from '../../shared/url-text.ts';
import type { WebhookEndpointRecord } from '../../store/port.ts';
import { WebhookEndpointLimitReached } from '../../store/webhook-endpoint-limit.ts';
import { endpointEventJob } from '../../webhooks/emit.ts';
import { PING } from '../../webhooks/events.ts';
import {
  newEndpointSecrets,
  rotateEndpointSecrets,
  sealEndpointSecrets,
  unsealEndpointSecrets,
} from '../../webhooks/secrets.ts';
import { AuthThrottle } from '../auth-throttle.ts';
import type { ApiContext } from '../context.ts';
import { OnePageQuery, refuseCursor } from '../cursors.ts';
import { ApiError, notFound, validationError } from '../errors.ts';
import { IdParams, WebhookEndpointBody } from '../schemas.ts';
import { refuseBlockedTargets } from '../targets.ts';
import { webhookEndpointView } from '../views.ts';

/** Each endpoint costs a job per status change it listens to: a tenant has at most this many. */
export const MAX_WEBHOOK_ENDPOINTS = 20;
/**
 * Test pings a tenant may send per minute (per API process), across its endpoints: each is a job
 * that holds a worker slot until the endpoint answers or times out (10 s), so a loop on this
 * route against a slow endpoint must not queue thousands of them.
 */
export const TEST_PINGS_PER_MINUTE = 20;

/**
 * The URL as stored: http(s) only, no credentials in it, and the private-target rule applied
 * offline (IP literals, localhost); names are checked after DNS at every delivery.
 */
function checkUrl(context: ApiContext, text: string): string {
  if (hasUrlControlCharacters(text))
    throw validationError([{ path: 'url', message: URL_CONTROL_CHARACTERS_MESSAGE }]);
  const url = URL.canParse(text) ? new URL(text) : null;
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:')
    throw validationError([{ path: 'url', message: 'must be an absolute http(s) URL' }]);
  if (url.username || url.password)
    throw validationError([{ path: 'url', message: 'must not carry a user name or password' }]);
  refuseBlockedTargets(context.providers.outbound, [{ host: url.hostname, port: url.port, path: 'url' }]);
  return url.href;
}

function tooManyEndpoints(): ApiError {
  return new ApiError(
    'unprocessable',
    `a tenant has at most ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints; delete one first`,
  );
}

/**
 * Outbound status webhooks (API.md "Receipts, feedback, unsubscribe"). The signing secret is
 * shown once: in the answer to the PUT that creates the endpoint and to each rotation.
 */
export async function webhookEndpointRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const params = IdParams('endpointId');

  async function endpointOf(tenantId: string, id: string): Promise<WebhookEndpointRecord> {
    const endpoint = await store.getWebhookEndpoint(tenantId, id);
    if (!endpoint) throw notFound('webhook endpoint', id);
    return endpoint;
  }

  app.put(
    '/v1/webhook-endpoints/:endpointId',
    { schema: { params, body: WebhookEndpointBody } },
    async (request, reply) => {
      const { endpointId } = request.params as { endpointId: string };
      const body = request.body as WebhookEndpointBody;
      const url = checkUrl(context, body.url);
      const existing = await store.listWebhookEndpoints(request.tenantId);
      if (existing.length >= MAX_WEBHOOK_ENDPOINTS && !existing.some((e) => e.id === endpointId))
        throw tooManyEndpoints();
      const fresh = newEndpointSecrets();
      // Counted again where it is inserted: PUTs racing past the check above cannot both pass.
      const { endpoint, created } = await store
        .putWebhookEndpoint(
          {
            tenantId: request.tenantId,
            id: endpointId,
            url,
            events: body.events,
            sealedSecrets: sealEndpointSecrets(context.keys.credentials, fresh.secrets),
          },
          Date.now(),
          MAX_WEBHOOK_ENDPOINTS,
        )
        .catch((error: unknown) => {
          if (error instanceof WebhookEndpointLimitReached) throw tooManyEndpoints();
          throw error;
        });
      context.webhooks.invalidate(request.tenantId);
      // A re-PUT keeps the secret the receiver already holds: it was shown once, at creation.
      if (!created) return webhookEndpointView(endpoint);
      return reply
        .status(201)
        .header('cache-control', 'no-store')
        .send({ ...webhookEndpointView(endpoint), secret: fresh.secret });
    },
  );

  app.get('/v1/webhook-endpoints', { schema: { querystring: OnePageQuery } }, async (request) => {
    refuseCursor((request.query as { cursor?: string }).cursor);
    return {
      items: (await store.listWebhookEndpoints(request.tenantId)).map(webhookEndpointView),
      // At most 20 per tenant: always one page, answered in the shape of every list.
      nextCursor: null,
    };
  });

  app.get('/v1/webhook-endpoints/:endpointId', { schema: { params } }, async (request) => {
    const { endpointId } = request.params as { endpointId: string };
    return webhookEndpointView(await endpointOf(request.tenantId, endpointId));
  });

  app.delete('/v1/webhook-endpoints/:endpointId', { schema: { params } }, async (request, reply) => {
    const { endpointId } = request.params as { endpointId: string };
    if (!(await store.deleteWebhookEndpoint(request.tenantId, endpointId)))
      throw notFound('webhook endpoint', endpointId);
    context.webhooks.invalidate(request.tenantId);
    return reply.status(204).send();
  });

  app.post('/v1/webhook-endpoints/:endpointId/rotate', { schema: { params } }, async (request, reply) => {
    const { endpointId } = request.params as { endpointId: string };
    const endpoint = await endpointOf(request.tenantId, endpointId);
    const now = Date.now();
    const stored = unsealEndpointSecrets(context.keys.credentialKeyring, endpoint.sealedSecrets);
    const rotated = rotateEndpointSecrets(stored, now);
    const sealed = sealEndpointSecrets(context.keys.credentials, rotated.secrets);
    if (
      !(await store.replaceWebhookSecrets(request.tenantId, endpointId, endpoint.sealedSecrets, sealed, now))
    )
      throw new ApiError(
        'conflict',
        'the endpoint changed during the rotation (deleted, or rotated at once); retry',
      );
    const overlap = rotated.secrets.secrets[1]?.until ?? null;
    return reply.header('cache-control', 'no-store').send({
      ...webhookEndpointView({ ...endpoint, updatedAt: now }),
      secret: rotated.secret,
      previousSecretExpiresAt: overlap === null ? null : new Date(overlap).toISOString(),
    });
  });

  // Counts each ping the way AuthThrottle counts failures: a fixed window per tenant.
  const pings = new AuthThrottle({ limit: TEST_PINGS_PER_MINUTE, windowMs: 60_000, maxAddresses: 10_000 });
  app.post('/v1/webhook-endpoints/:endpointId/test', { schema: { params } }, async (request, reply) => {
    const { endpointId } = request.params as { endpointId: string };
    const endpoint = await endpointOf(request.tenantId, endpointId);
    if (!endpoint.enabled) {
      throw new ApiError(
        'conflict',
        `webhook endpoint "${endpointId}" is disabled (${endpoint.disabledReason ?? 'no reason given'}); PUT it again to enable it`,
      );
    }
    const now = Date.now();
    // Only pings that would be queued count (a 404 or 409 above spends nothing).
    const retryAfter = pings.fail(request.tenantId, now);
    if (retryAfter !== null) {
      throw new ApiError(
        'rate_limited',
        `at most ${TEST_PINGS_PER_MINUTE} test pings a minute per tenant; retry in ${retryAfter} s`,
        [],
        { 'retry-after': String(retryAfter) },
      );
    }
    const job = endpointEventJob(request.tenantId, endpointId, PING, { endpointId }, now);
    await store.enqueueJobs([job]);
    context.signal.notify(job.lane);
    const { webhookId } = job.payload as { webhookId: string };
    return reply.status(202).send({ webhookId, type: PING });
  });
}
