import type { FastifyInstance } from 'fastify';
import { SnsClient } from '../../feedback/sns-certificates.ts';
import { ProviderWebhooks } from '../../feedback/webhook.ts';
import type { ApiContext } from '../context.ts';
import { IdParams } from '../schemas.ts';

/** SendGrid posts events in batches (up to a few thousand at once); nothing else comes close. */
const WEBHOOK_BODY_LIMIT = 4 * 1024 * 1024;

/**
 * The URL the provider called, as it signed it: TIDINGS_PUBLIC_URL (which may carry a path, for a
 * proxy that strips it) followed by the path and query this request arrived with.
 */
function publicUrlOf(publicUrl: string, requestUrl: string): string {
  const base = new URL(publicUrl);
  return `${base.origin}${base.pathname.replace(/\/+$/, '')}${requestUrl}`;
}

/**
 * Provider callbacks (API.md "Receipts, feedback"): no API key — each provider's own signature
 * scheme authenticates (src/feedback/webhook.ts). Bodies are kept as the exact bytes received,
 * whatever their type (Twilio posts forms, SNS JSON as text/plain, SendGrid JSON): signatures
 * are over those bytes. These parsers replace the API's JSON-only ones in this scope alone.
 */
export async function providerWebhookRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );
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
      const answer = await webhooks.handle(integrationId, {
        url: publicUrlOf(context.config.publicUrl, request.url),
        headers: request.headers,
        body,
      });
      return reply.status(answer.status).header('content-type', answer.contentType).send(answer.body);
    },
  );
}
