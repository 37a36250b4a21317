import type { FastifyInstance, FastifyReply } from 'fastify';
import Type from 'typebox';
import { changePreferences } from '../../privacy/consent.ts';
import { type UnsubscribeClaims, verifyUnsubscribeToken } from '../../security/unsubscribe-token.ts';
import type { PreferencePatch } from '../../store/port.ts';
import { emitUnsubscribed } from '../../webhooks/api-events.ts';
import { refuseOtherBodies } from '../body-types.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

const Params = Type.Object({ token: Type.String({ minLength: 1, maxLength: 2048 }) });

// The page runs no script and may only post back to Tidings itself.
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
} as const;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function what(claims: UnsubscribeClaims): string {
  return 'category' in claims.scope
    ? `“${claims.scope.category}” emails`
    : `notifications of “${claims.scope.workflow}”`;
}

function page(reply: FastifyReply, title: string, body: string) {
  return reply
    .headers(PAGE_HEADERS)
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title}</title>` +
        '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1rem}</style>' +
        `</head><body><h1>${title}</h1>${body}</body></html>`,
    );
}

/** The link's claims, or null for a link no secret of the keyring signed (cut short, forged). */
function claimsOf(context: ApiContext, token: string): UnsubscribeClaims | null {
  return verifyUnsubscribeToken(context.keys.unsubscribeKeyring, token);
}

const notValid = () =>
  new ApiError('not_found', 'this unsubscribe link is not valid (it may have been cut short)');

/**
 * Whether the request's Accept names text/html, as a browser's navigation does (fetch and curl send
 * any type).
 */
function asksForHtml(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}

/** RFC 8058: the body names `List-Unsubscribe=One-Click`, form-urlencoded (or multipart, which some senders use). */
function isOneClick(body: unknown, contentType: string | undefined): boolean {
  if (typeof body !== 'string') return false;
  if (contentType?.startsWith('multipart/form-data'))
    return /name="List-Unsubscribe"\r?\n\r?\nOne-Click\r?\n/.test(body);
  return new URLSearchParams(body).get('List-Unsubscribe') === 'One-Click';
}

/**
 * One-click unsubscribe (RFC 8058) for the links in emails' List-Unsubscribe headers. `GET` only
 * shows a confirmation page — mail scanners fetch links, and must not unsubscribe anyone — whose
 * button posts the one-click body; `POST` changes the preference before it answers 200.
 */
export async function unsubscribeRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const open = { auth: 'none' as const };
  refuseOtherBodies(app, 'application/x-www-form-urlencoded (or multipart/form-data)');
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) =>
      done(null, body),
    );
  }

  app.get(
    '/v1/unsubscribe/:token',
    { config: open, schema: { params: Params, security: [] } },
    async (request, reply) => {
      const claims = claimsOf(context, (request.params as { token: string }).token);
      if (!claims) {
        // A person who opens a link cut short by their mail program reads a page saying so, not
        // the JSON error a program gets (a browser asks for text/html; fetch and curl do not).
        if (!asksForHtml(request.headers.accept)) throw notValid();
        return page(
          reply.status(404),
          'Link not valid',
          '<p>This unsubscribe link is not valid: it may have been cut short. Open the whole link from the email, or use the preferences link in it.</p>',
        );
      }
      return page(
        reply,
        'Unsubscribe',
        `<p>Stop receiving ${escapeHtml(what(claims))}?</p>` +
          '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">' +
          '<button type="submit">Unsubscribe</button></form>',
      );
    },
  );

  app.post(
    '/v1/unsubscribe/:token',
    { config: open, schema: { params: Params, security: [] } },
    async (request, reply) => {
      const claims = claimsOf(context, (request.params as { token: string }).token);
      if (!claims) throw notValid();
      if (!isOneClick(request.body, request.headers['content-type'])) {
        throw new ApiError('validation_failed', 'the body must be List-Unsubscribe=One-Click (RFC 8058)', [
          { path: 'List-Unsubscribe', message: 'must be One-Click' },
        ]);
      }
      const { tenantId, subscriberId, scope } = claims;
      // An erased subscriber (or tenant) stays erased: there is nobody left to opt out — nor is a
      // later subscriber of the id, who never got this link, opted out by it.
      const subscriber = await context.store.getSubscriber(tenantId, subscriberId);
      const theirs =
        subscriber !== null &&
        (claims.subscriberCreatedAt === undefined || claims.subscriberCreatedAt === subscriber.createdAt);
      if (theirs) {
        const patch: PreferencePatch =
          'category' in scope
            ? { categories: { [scope.category]: { email: false } } }
            : { workflows: { [scope.workflow]: { enabled: false } } };
        const now = Date.now();
        await changePreferences(context.store, {
          tenantId,
          subscriberId,
          patch,
          now,
          source: 'unsubscribe_link',
          detail: `one-click unsubscribe from ${what(claims)}`,
        });
        await emitUnsubscribed(context, tenantId, subscriberId, { channel: 'email', ...scope }, now);
      }
      return page(reply, 'Unsubscribed', `<p>You will no longer receive ${escapeHtml(what(claims))}.</p>`);
    },
  );
}
