import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { quietHoursChange } from '../../pipeline/release-deferred.ts';
import { messagePage, PAGE_HEADERS, preferencePage } from '../../preference-page/html.ts';
import { type PageModel, pageModel, patchFromForm } from '../../preference-page/model.ts';
import { pageWorkflows } from '../../preference-page/workflow-summaries.ts';
import { changePreferences } from '../../privacy/consent.ts';
import { verifyPreferenceLinkToken } from '../../security/preference-link-token.ts';
import { verifySubscriberToken } from '../../security/subscriber-token.ts';
import { emptyPreferences } from '../../store/preference-merge.ts';
import { refuseOtherBodies } from '../body-types.ts';
import type { ApiContext } from '../context.ts';

const MAX_TOKEN_LENGTH = 4096;
const FORM_BODY_LIMIT = 64 * 1024;

/** Who a token names; `issuedAt` only matters for a subscriber token minted before tokens named the subscriber's creation time. */
type Identity = {
  tenantId: string;
  subscriberId: string;
  subscriberCreatedAt?: number;
  issuedAt?: number | null;
};

/**
 * Who a token names: a preference link token (`{{ links.preferences }}`, one dot) or a subscriber
 * token (a JWT, two dots). `expired` only for a genuine link past its time, so the page can say so.
 */
async function identify(context: ApiContext, token: unknown): Promise<Identity | 'expired' | null> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return null;
  if (token.split('.').length === 2) {
    const claims = verifyPreferenceLinkToken(context.keys.preferenceLinkKeyring, token);
    if (!claims) return null;
    return claims.expiresAt <= Date.now() ? 'expired' : claims;
  }
  return verifySubscriberToken(context.keys.tokenSigning, token);
}

function page(reply: FastifyReply, status: number, html: string) {
  return reply.status(status).headers(PAGE_HEADERS).send(html);
}

function refused(reply: FastifyReply, who: 'expired' | null) {
  return who === 'expired'
    ? page(
        reply,
        401,
        messagePage(
          'This link has expired',
          'Links to your notification preferences work for 90 days. Use the link in a more recent message.',
        ),
      )
    : page(
        reply,
        401,
        messagePage(
          'This link is not valid',
          'The link to your notification preferences is not valid: it may have been cut short or changed. Use the link in a recent message.',
        ),
      );
}

/**
 * A cross-site form post: the browser says so (`Sec-Fetch-Site`, which every current browser
 * sends), or — for one that does not — sends an `Origin` that is neither this server as the
 * request reached it nor TIDINGS_PUBLIC_URL. (The page's `no-referrer` policy makes its own posts
 * carry `Origin: null`, so that value alone proves nothing.) The page carries no cookie to ride
 * on — the token in the body is the credential — so this is defence in depth.
 */
function crossSite(request: FastifyRequest, publicUrl: string): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') return false;
  if (!URL.canParse(origin)) return true;
  const from = new URL(origin);
  return from.origin !== new URL(publicUrl).origin && from.host !== request.headers.host;
}

/**
 * `GET /v1/preferences-page?token=` (API.md "Inbox"): the subscriber's own preferences as a
 * server-rendered form — channels, topics (categories × channels), workflows, quiet hours — with
 * transactional and security shown locked on. `POST` saves what changed as a preferences PATCH
 * would, then redirects back (303) to the page saying so. A bad token is a 401 page, an unknown
 * subscriber a 404 page; every answer is HTML under a strict CSP.
 */
export async function preferencePageRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const open = { auth: 'none' as const };
  refuseOtherBodies(app, 'application/x-www-form-urlencoded');
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );

  async function load(who: Identity): Promise<PageModel | null> {
    const [subscriber, choices, workflows, settings] = await Promise.all([
      store.getSubscriber(who.tenantId, who.subscriberId),
      store.getPreferences(who.tenantId, who.subscriberId),
      pageWorkflows(store, who.tenantId),
      store.getTenantSettings(who.tenantId),
    ]);
    // Erased, or erased and created anew under the same id: the token was for someone else (the
    // rule the API's authentication applies, src/api/auth.ts).
    if (!subscriber) return null;
    const another =
      who.subscriberCreatedAt !== undefined
        ? who.subscriberCreatedAt !== subscriber.createdAt
        : who.issuedAt != null && who.issuedAt + 1000 <= subscriber.createdAt;
    if (another) return null;
    return pageModel(
      workflows,
      choices ?? emptyPreferences(),
      subscriber.timezone ?? settings.defaultTimezone,
    );
  }

  const gone = (reply: FastifyReply) =>
    page(
      reply,
      404,
      messagePage('Not found', 'There are no notification preferences for this link any more.'),
    );

  // No querystring schema: `token` is read by hand, so a malformed query still gets an HTML page
  // (401), never a JSON validation error.
  const pageSchema = {
    security: [],
    description:
      'The subscriber’s own preference page (HTML). `?token=`: a subscriber token or a `{{ links.preferences }}` link token; bad or expired → 401 page.',
  };
  app.get('/v1/preferences-page', { config: open, schema: pageSchema }, async (request, reply) => {
    const query = request.query as { token?: unknown; saved?: unknown };
    const who = await identify(context, query.token);
    if (who === null || who === 'expired') return refused(reply, who);
    const model = await load(who);
    if (!model) return gone(reply);
    return page(reply, 200, preferencePage(model, query.token as string, { saved: query.saved === '1' }));
  });

  const saveSchema = {
    security: [],
    description:
      'Saves the preference form (application/x-www-form-urlencoded, `token` in the body); 303 back to the page.',
  };
  app.post('/v1/preferences-page', { config: open, schema: saveSchema }, async (request, reply) => {
    if (crossSite(request, context.config.publicUrl)) {
      return page(
        reply,
        403,
        messagePage('Not saved', 'Preferences can only be changed from the preference page itself.'),
      );
    }
    if (typeof request.body !== 'string') {
      return page(
        reply,
        400,
        messagePage('Not saved', 'Send the preference form (application/x-www-form-urlencoded).'),
      );
    }
    const form = new URLSearchParams(request.body);
    const token = form.get('token') ?? (request.query as { token?: unknown }).token;
    const who = await identify(context, token);
    if (who === null || who === 'expired') return refused(reply, who);
    const model = await load(who);
    if (!model) return gone(reply);
    const patch = patchFromForm(model, form);
    if ('field' in patch) return page(reply, 400, preferencePage(model, token as string, { problem: patch }));
    if (Object.keys(patch).length > 0) {
      const quietChanged = await quietHoursChange(
        { ...context, log: request.log },
        who.tenantId,
        who.subscriberId,
        'quietHours' in patch,
      );
      await changePreferences(store, {
        tenantId: who.tenantId,
        subscriberId: who.subscriberId,
        patch,
        now: Date.now(),
        source: 'preference_page',
        detail: 'the hosted preference page',
      });
      await quietChanged();
    }
    return reply
      .status(303)
      .headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
      .header('location', `preferences-page?token=${encodeURIComponent(token as string)}&saved=1`)
      .send();
  });
}
