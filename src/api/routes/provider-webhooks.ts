import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { SnsClient } from '../../feedback/sns-certificates.ts';
import {
  callbackTooLarge,
  ProviderWebhooks,
  presentsSignature,
  WEBHOOK_LIMITS,
} from '../../feedback/webhook.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { IdParams } from '../schemas.ts';

const FORM = 'application/x-www-form-urlencoded';

/**
 * The URL the provider called, as it signed it: TIDINGS_PUBLIC_URL (which may carry a path, for a
 * proxy that strips it) followed by the path and query this request arrived with.
 */
function publicUrlOf(publicUrl: string, requestUrl: string): string {
  const base = new URL(publicUrl);
  return `${base.origin}${base.pathname.replace(/\/+$/, '')}${requestUrl}`;
}

/** The 413 for a body over its parser's limit, naming that limit (Fastify's own does not). */
function tooLarge(request: FastifyRequest): ApiError {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  return type === FORM
    ? callbackTooLarge('a form callback', `${WEBHOOK_LIMITS.formBytes / 1024} KB`)
    : callbackTooLarge('a callback', `${WEBHOOK_LIMITS.bodyBytes / (1024 * 1024)} MB`);
}

export interface ProviderWebhookHooks {
  /**
   * A callback whose signature was refused: counted toward the same failed-authentication
   * throttle as wrong API keys (auth.ts), answering `refusal` or, past the allowance, a 429.
   */
  refused(request: FastifyRequest, refusal: ApiError): ApiError;
}

/**
 * Provider callbacks (API.md "Receipts, feedback"): no API key — each provider's own signature
 * scheme authenticates (src/feedback/webhook.ts). Bodies are kept as the exact bytes received,
 * whatever their type (Twilio posts forms, SNS JSON as text/plain, SendGrid JSON): signatures
 * are over those bytes. These parsers replace the API's JSON-only ones in this scope alone, each
 * with the limit of what providers send that way (WEBHOOK_LIMITS): forms are small.
 */
export async function providerWebhookRoutes(
  app: FastifyInstance,
  context: ApiContext,
  hooks: ProviderWebhookHooks,
): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    FORM,
    { parseAs: 'buffer', bodyLimit: WEBHOOK_LIMITS.formBytes },
    (_r, body, done) => done(null, body),
  );
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: WEBHOOK_LIMITS.bodyBytes },
    (_r, body, done) => done(null, body),
  );
  // Anything else goes on to the API's error handler (thrown from here, Fastify hands it up).
  app.setErrorHandler((error: FastifyError, request) => {
    throw error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? tooLarge(request) : error;
  });
  const webhooks = new ProviderWebhooks(
    context.store,
    context.keys.credentialKeyring,
    new SnsClient(context.providers.outbound.policy, context.config.testSns),
    context.logger,
    { emitter: context.webhooks, signal: context.signal },
    context.metrics.delivery,
  );
  app.addHook('onClose', async () => webhooks.close());

  app.post(
    '/v1/providers/:integrationId/webhook',
    {
      config: { auth: 'none' },
      schema: { params: IdParams('integrationId'), security: [] },
    },
    async (request, reply) => {
      const { integrationId } = request.params as { integrationId: string };
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      let answer: Awaited<ReturnType<ProviderWebhooks['handle']>>;
      try {
        answer = await webhooks.handle(integrationId, {
          url: publicUrlOf(context.config.publicUrl, request.url),
          headers: request.headers,
          body,
          requester: request.ip,
        });
      } catch (error) {
        // Only after the signature was checked: a correctly signed callback is never throttled.
        if (
          error instanceof ApiError &&
          error.errorCode === 'unauthorized' &&
          presentsSignature(request.headers)
        )
          throw hooks.refused(request, error);
        throw error;
      }
      return reply.status(answer.status).header('content-type', answer.contentType).send(answer.body);
    },
  );
}
