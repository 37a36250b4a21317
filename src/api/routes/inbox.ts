import type { FastifyInstance } from 'fastify';
import { inboxActions, inboxItemView } from '../../inbox/item-view.ts';
import { inboxWakeJob } from '../../pipeline/inbox-wake.ts';
import { emitInboxRead, emitInboxReads, emitReceipt } from '../../webhooks/api-events.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, notFound, validationError } from '../errors.ts';
import { IdParams, InboxClickBody, InboxQuery, InboxSnoozeBody, UnreadCountQuery } from '../schemas.ts';
import { PAGE_BYTES } from '../sized-pages.ts';
import { decodeCursor, encodeCursor } from '../views.ts';

/** How far ahead an item may be snoozed. */
const MAX_SNOOZE_MS = 365 * 86_400_000;

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

  /** The categories a `?category=` or `?tab=` asks for (a tab the tenant has not defined: 400). */
  async function categoriesOf(tenantId: string, query: InboxQuery): Promise<string[] | undefined> {
    if (query.category !== undefined && query.tab !== undefined)
      throw validationError([{ path: 'tab', message: 'cannot be combined with category' }], 'query');
    if (query.category !== undefined) return [query.category];
    if (query.tab === undefined) return undefined;
    const { inboxTabs } = await store.getTenantSettings(tenantId);
    const tab = Object.entries(inboxTabs).find(([name]) => name === query.tab);
    if (!tab)
      throw validationError(
        [
          {
            path: 'tab',
            message: `is not one of the tenant's inboxTabs (${Object.keys(inboxTabs).join(', ') || 'none'})`,
          },
        ],
        'query',
      );
    return tab[1];
  }

  app.get('/v1/inbox', { config: subscriberOnly, schema: { querystring: InboxQuery } }, async (request) => {
    const query = request.query as InboxQuery;
    const limit = query.limit ?? 20;
    const categories = await categoriesOf(request.tenantId, query);
    const start = position(query.cursor);
    // A cursor only when more items remain: a page that happens to end the inbox answers
    // `nextCursor: null`, never a cursor to an empty page. An item's content may be 2 MB: a page
    // stops at about PAGE_BYTES of them (40 such items were one 136 MB answer that held every
    // tenant's requests 2.5 s), read one item at a time by the store (SizedPage).
    const { rows, more } = await store.pageInbox({
      tenantId: request.tenantId,
      subscriberId: subscriberOf(request),
      before: start,
      limit,
      archived: query.archived ?? false,
      ...(query.status ? { status: query.status } : {}),
      ...(categories ? { categories } : {}),
      maxBytes: PAGE_BYTES,
    });
    const last = more ? rows.at(-1) : undefined;
    return {
      items: rows.map(inboxItemView),
      nextCursor: last ? encodeCursor([last.eventAt, last.id]) : null,
    };
  });

  app.get(
    '/v1/inbox/unread-count',
    { config: subscriberOnly, schema: { querystring: UnreadCountQuery } },
    async (request) => {
      const subscriberId = subscriberOf(request);
      if (!(request.query as UnreadCountQuery).tabs)
        return { count: await store.countUnread(request.tenantId, subscriberId) };
      const [byCategory, settings] = await Promise.all([
        store.countUnreadByCategory(request.tenantId, subscriberId),
        store.getTenantSettings(request.tenantId),
      ]);
      let count = 0;
      for (const n of byCategory.values()) count += n;
      const tabs = Object.fromEntries(
        Object.entries(settings.inboxTabs).map(([tab, categories]) => [
          tab,
          categories.reduce((sum, category) => sum + (byCategory.get(category) ?? 0), 0),
        ]),
      );
      return { count, tabs };
    },
  );

  app.post(`/v1/inbox/:itemId/unread`, { config: subscriberOnly, schema: { params } }, async (request) => {
    const { itemId } = request.params as { itemId: string };
    const subscriberId = subscriberOf(request);
    const item = await store.markInbox(request.tenantId, subscriberId, itemId, 'unread', Date.now());
    if (!item) throw notFound('inbox item', itemId);
    inboxFeed.publish([{ type: 'item.updated', tenantId: request.tenantId, subscriberId, itemId }]);
    return inboxItemView(item);
  });

  app.post(
    `/v1/inbox/:itemId/click`,
    { config: subscriberOnly, schema: { params, body: InboxClickBody } },
    async (request) => {
      const { itemId } = request.params as { itemId: string };
      const { action } = (request.body ?? {}) as InboxClickBody;
      const subscriberId = subscriberOf(request);
      const found = await store.getMessage(request.tenantId, itemId);
      if (!found || found.subscriberId !== subscriberId || found.channel !== 'in_app')
        throw notFound('inbox item', itemId);
      // Which URL the click went to: the item's own, or one of its actions (by index or label).
      let url: string | null = found.content.actionUrl || null;
      let detail = 'inbox click';
      if (action !== undefined) {
        const actions = inboxActions(found);
        const index = typeof action === 'number' ? action : actions.findIndex((a) => a.label === action);
        const chosen = actions[index];
        if (!chosen)
          throw new ApiError('unprocessable', `the item has no action ${JSON.stringify(action)}`, [
            {
              path: 'action',
              message:
                actions.length === 0
                  ? 'must be absent: the item has no actions'
                  : actions.length === 1
                    ? "must be 0 or the label of the item's action"
                    : `must be the index (0–${actions.length - 1}) or label of one of the item's actions`,
            },
          ]);
        url = chosen.url;
        detail = `inbox click: action ${index} (${chosen.label})`;
      }
      const now = Date.now();
      const item = await store.markInbox(request.tenantId, subscriberId, itemId, 'click', now, detail);
      if (!item) throw notFound('inbox item', itemId);
      inboxFeed.publish([{ type: 'item.updated', tenantId: request.tenantId, subscriberId, itemId }]);
      // The first click is a receipt endpoints hear of (message.clicked) and /metrics counts, as
      // a clicked receipt is; later ones change nothing.
      if (found.status !== 'clicked' && item.status === 'clicked') {
        context.metrics.delivery.message(item.channel, 'clicked');
        await emitReceipt(context, item, now);
      }
      return { url, item: inboxItemView(item) };
    },
  );

  app.post(
    `/v1/inbox/:itemId/snooze`,
    { config: subscriberOnly, schema: { params, body: InboxSnoozeBody } },
    async (request) => {
      const { itemId } = request.params as { itemId: string };
      const subscriberId = subscriberOf(request);
      const now = Date.now();
      const until = Date.parse((request.body as InboxSnoozeBody).until);
      if (!Number.isFinite(until) || until <= now || until > now + MAX_SNOOZE_MS)
        throw validationError([
          { path: 'until', message: 'must be a time in the future, at most 1 year ahead' },
        ]);
      const wake = inboxWakeJob({ tenantId: request.tenantId, itemId, subscriberId, until });
      const item = await store.snoozeInbox(request.tenantId, subscriberId, itemId, until, wake, now);
      if (!item) throw notFound('inbox item', itemId);
      context.signal.notify(wake.lane);
      inboxFeed.publish([{ type: 'item.updated', tenantId: request.tenantId, subscriberId, itemId }]);
      return inboxItemView(item);
    },
  );

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
      const now = Date.now();
      const marked = await store.markAllInbox(request.tenantId, subscriberId, mark, now);
      if (marked.length > 0)
        inboxFeed.publish([{ type: `inbox.${mark}-all`, tenantId: request.tenantId, subscriberId }]);
      // A read-all reads each item as POST /v1/inbox/{itemId}/read does: each a read receipt.
      if (mark === 'read') await emitInboxReads(context, marked, now);
      return { updated: marked.length };
    });
  }
}
