import type { FastifyInstance } from 'fastify';
import { emitInboxRead } from '../../webhooks/api-events.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, notFound, validationError } from '../errors.ts';
import { IdParams, InboxQuery } from '../schemas.ts';
import { decodeCursor, encodeCursor, inboxItemView } from '../views.ts';

const subscriberOnly = { auth: 'subscriber' as const };

function subscriberOf(request: { subscriberId: string | null }): string {
  if (!request.subscriberId) throw new ApiError('unauthorized', 'a subscriber token is required');
  return request.subscriberId;
}

function position(cursor: string | undefined): { eventAt: number; id: string } | null {
  if (cursor === undefined) return null;
  const parts = decodeCursor(cursor);
  const eventAt = Number(parts?.[0]);
  if (parts?.length !== 2 || !Number.isSafeInteger(eventAt)) {
    throw validationError([{ path: 'cursor', message: 'is not a cursor this API issued' }], 'query');
  }
  return { eventAt, id: parts[1]! };
}

/** The subscriber-facing inbox, authenticated by subscriber tokens. */
export async function inboxRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store, inboxFeed } = context;
  const params = IdParams('itemId');

  app.get('/v1/inbox', { config: subscriberOnly, schema: { querystring: InboxQuery } }, async (request) => {
    const query = request.query as InboxQuery;
    const limit = query.limit ?? 20;
    const items = await store.listInbox({
      tenantId: request.tenantId,
      subscriberId: subscriberOf(request),
      before: position(query.cursor),
      limit,
      archived: query.archived ?? false,
    });
    const last = items.length === limit ? items.at(-1) : undefined;
    return {
      items: items.map(inboxItemView),
      nextCursor: last ? encodeCursor([last.eventAt, last.id]) : null,
    };
  });

  app.get('/v1/inbox/unread-count', { config: subscriberOnly }, async (request) => ({
    count: await store.countUnread(request.tenantId, subscriberOf(request)),
  }));

  for (const mark of ['read', 'archive'] as const) {
    app.post(`/v1/inbox/:itemId/${mark}`, { config: subscriberOnly, schema: { params } }, async (request) => {
      const { itemId } = request.params as { itemId: string };
      const subscriberId = subscriberOf(request);
      const now = Date.now();
      const item = await store.markInbox(request.tenantId, subscriberId, itemId, mark, now);
      if (!item) throw notFound('inbox item', itemId);
      inboxFeed.publish([{ type: 'item.updated', tenantId: request.tenantId, subscriberId, itemId }]);
      await emitInboxRead(context, item, now);
      return inboxItemView(item);
    });
  }

  for (const mark of ['read', 'seen'] as const) {
    app.post(`/v1/inbox/${mark}-all`, { config: subscriberOnly }, async (request) => {
      const subscriberId = subscriberOf(request);
      const updated = await store.markAllInbox(request.tenantId, subscriberId, mark, Date.now());
      if (updated > 0)
        inboxFeed.publish([{ type: `inbox.${mark}-all`, tenantId: request.tenantId, subscriberId }]);
      return { updated };
    });
  }
}
