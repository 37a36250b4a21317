import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Receipt } from '../../policy/fallback.ts';
import { type TrackingClaims, verifyClickToken, verifyOpenToken } from '../../security/tracking-token.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { applyReceipt } from './receipts.ts';

// A 1×1 transparent GIF (43 bytes).
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

// Every open must reach Tidings again: no cache (the client's, a proxy's) answers for it.
const NO_STORE = { 'cache-control': 'no-store, no-cache, must-revalidate, max-age=0', pragma: 'no-cache' };

const TokenParams = Type.Object({ token: Type.String() });

/**
 * Records a tracking receipt, never failing the answer: the reader gets the pixel or their page
 * whatever happened to the message since (erased, past retention, failed, already clicked).
 */
async function record(
  context: ApiContext,
  request: FastifyRequest,
  claims: TrackingClaims,
  receipt: Receipt,
  from: string,
): Promise<void> {
  // A HEAD is a link checker or a prefetch asking whether the URL exists: nobody opened anything.
  if (request.method === 'HEAD') return;
  try {
    await applyReceipt(context, { ...claims, subscriberId: null, receipt, from });
  } catch (error) {
    request.log.warn({ err: error, messageId: claims.messageId }, 'tracking receipt not recorded');
  }
}

/**
 * Open and click tracking of emails (docs/tracking.md); no credential but the signed token.
 * - `GET /v1/t/o/{token}`: the open pixel. Always answers the GIF, also for a token that is not
 *   Tidings' (no oracle for guessing tokens); only a good one records `read`.
 * - `GET /v1/t/c/{token}?u={url}`: a tracked link. A token signed for exactly that http(s) URL
 *   records `clicked` and redirects there (302); anything else answers 404, so the route can
 *   never be used to redirect anywhere Tidings did not sign.
 */
export async function trackingRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const open = { auth: 'none' as const };
  // Links of emails sent before a rotation verify under the previous secret's key too.
  const key = context.keys.trackingKeyring;

  app.get(
    '/v1/t/o/:token',
    { config: open, schema: { params: TokenParams, security: [] } },
    async (request, reply) => {
      const claims = verifyOpenToken(key, (request.params as { token: string }).token);
      if (claims) await record(context, request, claims, 'read', 'the email’s open pixel');
      return reply.headers({ ...NO_STORE, 'content-type': 'image/gif' }).send(PIXEL);
    },
  );

  app.get(
    '/v1/t/c/:token',
    {
      config: open,
      schema: {
        params: TokenParams,
        querystring: Type.Object({ u: Type.Optional(Type.String({ description: 'the link’s target URL' })) }),
        security: [],
      },
    },
    async (request, reply) => {
      const { token } = request.params as { token: string };
      const target = (request.query as { u?: string }).u;
      const claims = target !== undefined && isHttp(target) ? verifyClickToken(key, token, target) : null;
      if (!claims || target === undefined)
        throw new ApiError('not_found', 'this link is not valid (it may have been cut short)');
      await record(context, request, claims, 'clicked', 'a tracked link in the email');
      return reply.headers(NO_STORE).redirect(target, 302);
    },
  );
}

/** Only http(s) targets are ever signed; anything else is refused before the signature is checked. */
function isHttp(target: string): boolean {
  if (!URL.canParse(target)) return false;
  const { protocol } = new URL(target);
  return protocol === 'http:' || protocol === 'https:';
}
