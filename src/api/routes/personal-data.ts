import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { InboxChange } from '../../inbox/feed.ts';
import { inboxNotice } from '../../inbox/relay.ts';
import { consentLogDocument } from '../../privacy/consent.ts';
import { startErasure } from '../../privacy/erasure.ts';
import { exportSubscriber } from '../../privacy/export.ts';
import type { ApiContext } from '../context.ts';
import { OnePageQuery, refuseCursor } from '../cursors.ts';
import { notFound } from '../errors.ts';
import { IdParams } from '../schemas.ts';

/**
 * Personal data rights (API.md "Subscribers…"): the consent log, the export of everything held
 * about a subscriber, and erasure. See docs/personal-data-rights.md.
 */
export async function personalDataRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const params = IdParams('subscriberId');

  app.get(
    '/v1/subscribers/:subscriberId/consent-log',
    { schema: { params, querystring: OnePageQuery } },
    async (request, reply) => {
      const { subscriberId } = request.params as { subscriberId: string };
      refuseCursor((request.query as { cursor?: string }).cursor);
      if (!(await store.getSubscriber(request.tenantId, subscriberId)))
        throw notFound('subscriber', subscriberId);
      // Every list's shape (API.md): the whole log on one page — streamed an entry at a time, as the
      // export streams it. A log grows with every change and is never cut; held whole and turned
      // into one string, 3,000 entries of 100 categories (25 MB) held the event loop 0.4 s a read,
      // 1.1 s for three at once, each holding the whole log in memory meanwhile.
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .send(Readable.from(consentLogDocument(store, request.tenantId, subscriberId)));
    },
  );

  app.get('/v1/subscribers/:subscriberId/export', { schema: { params } }, async (request, reply) => {
    const { subscriberId } = request.params as { subscriberId: string };
    const subscriber = await store.getSubscriber(request.tenantId, subscriberId);
    if (!subscriber) throw notFound('subscriber', subscriberId);
    // Personal data: no cache may keep a copy.
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(Readable.from(exportSubscriber(store, subscriber, Date.now())));
  });

  // 404 when the tenant has no subscriber of the id (never seen, another tenant's, erased already),
  // as every route answers another tenant's ids. Whether there was one is known from the erasure's
  // own delete, so a DELETE racing an event that names the id erases what that event made.
  app.delete('/v1/subscribers/:subscriberId', { schema: { params } }, async (request, reply) => {
    const { subscriberId } = request.params as { subscriberId: string };
    const erased: InboxChange = { type: 'subscriber.erased', tenantId: request.tenantId, subscriberId };
    // Their open streams end, in every process: the other processes hear it from the erasure's
    // own commit, so no failure after it can keep it from them (a process whose listener was
    // reconnecting checks its streams once back: src/inbox/relay.ts). This process's streams hear
    // it below, as a change the others already have (not relayed again).
    let hadProfile: boolean;
    try {
      hadProfile = await startErasure(
        store,
        context.keys.erasure,
        request.tenantId,
        subscriberId,
        Date.now(),
        inboxNotice([erased]),
      );
    } catch (error) {
      // The commit may have gone through though its answer was lost (this process ignores the
      // notice it sent itself): the subscriber's streams here check whether their subscriber still
      // holds, as after a gap in the feed — ending if erased, going on if it was rolled back.
      context.inboxFeed.gap({ tenantId: request.tenantId, subscriberId });
      throw error;
    }
    context.inboxFeed.publish([erased], 'remote');
    if (!hadProfile) throw notFound('subscriber', subscriberId);
    return reply.status(202).send({ subscriberId, status: 'erasing' });
  });
}
