import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { findJsonProblem } from '../../ingest/json-limits.ts';
import { InlineSubscriber } from '../../ingest/schema.ts';
import { quietZonesChange } from '../../pipeline/release-deferred.ts';
import { forgetPageWorkflows } from '../../preference-page/workflow-summaries.ts';
import type { SubscriberPatch } from '../../shared/model.ts';
import { iso } from '../../shared/time.ts';
import type { ApiContext } from '../context.ts';
import { CURSOR_MAX_LENGTH, pageOf, readCursor, sizedAnswer } from '../cursors.ts';
import { type ErrorDetail, notFound, validationError } from '../errors.ts';
import { IdParams, Limit } from '../schemas.ts';
import { PAGE_BYTES } from '../sized-pages.ts';
import { compileValidator, itemwiseBodyCompiler } from '../validation.ts';
import { subscriberView, workflowView } from '../views.ts';

/** Most subscribers one bulk request may upsert. */
export const MAX_BULK_SUBSCRIBERS = 1000;

const PageQuery = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({ maxLength: CURSOR_MAX_LENGTH, description: 'nextCursor of the previous page' }),
    ),
    limit: Type.Optional(Limit(200, 50)),
  },
  { additionalProperties: false },
);
type PageQuery = { cursor?: string; limit?: number };

/**
 * Marks each list's cursors, so another list's cursor (or a forged one) is told apart: one tag
 * shared by the four, a subscribers cursor paged the topics list from a key of another kind.
 */
const TAGS = { subscribers: 'ks', workflows: 'kw', topics: 'kt', members: 'km' } as const;

/** The key a cursor of list `tag` stands after; any other cursor is a 400 naming it (readCursor). */
function afterKey(cursor: string | undefined, tag: string): string | null {
  return cursor === undefined ? null : readCursor(cursor, tag, 1)[0]!;
}

const checkBulkItem = compileValidator<{ subscriberId: string } & SubscriberPatch>(InlineSubscriber);

export async function listingRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;

  app.get('/v1/subscribers', { schema: { querystring: PageQuery } }, async (request) => {
    const { cursor, limit = 50 } = request.query as PageQuery;
    const rows = await store.listSubscribers(request.tenantId, afterKey(cursor, TAGS.subscribers), limit + 1);
    return pageOf(rows, limit, TAGS.subscribers, (s) => s.id, subscriberView);
  });

  app.post(
    '/v1/subscribers/bulk',
    {
      bodyLimit: context.config.bulkBodyLimit,
      schema: {
        body: Type.Object(
          { subscribers: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BULK_SUBSCRIBERS }) },
          { additionalProperties: false },
        ),
      },
      // Each item is checked on its own, so one bad item refuses only itself.
      validatorCompiler: itemwiseBodyCompiler,
    },
    async (request, reply) => {
      const { subscribers } = request.body as { subscribers: unknown[] };
      const checked = subscribers.map((item, index) => {
        const problem = findJsonProblem(item, { schema: InlineSubscriber });
        const result = problem ? { ok: false as const, details: [problem] } : checkBulkItem(item);
        if (result.ok) return result;
        const details: ErrorDetail[] = result.details.map((d) => ({
          ...d,
          path: d.path === '' ? `subscribers[${index}]` : `subscribers[${index}].${d.path}`,
        }));
        return { ok: false as const, error: validationError(details).toBody().error };
      });
      const good = checked.flatMap((c) => {
        if (!c.ok || !('value' in c)) return [];
        const { subscriberId, ...patch } = c.value;
        return [{ id: subscriberId, ...patch }];
      });
      // New zones move quiet hours: what those held may go sooner (as after PUT /v1/subscribers/{id}).
      const zonesChanged = await quietZonesChange(
        { ...context, log: request.log },
        request.tenantId,
        good.filter((item) => 'timezone' in item).map((item) => item.id),
      );
      // The good items in one transaction: all of them are written, or (on a store error) none.
      const written =
        good.length === 0 ? [] : await store.upsertSubscribers(request.tenantId, good, Date.now());
      await zonesChanged();
      let next = 0;
      // 202 like events/bulk (the contract says "like events"), although the writes are done.
      reply.code(202);
      return {
        results: checked.map((c) => (c.ok ? subscriberView(written[next++]!) : { error: c.error })),
      };
    },
  );

  app.get('/v1/workflows', { schema: { querystring: PageQuery } }, async (request) => {
    const { cursor, limit = 50 } = request.query as PageQuery;
    const start = afterKey(cursor, TAGS.workflows);
    // Each workflow holds its whole definition (up to a body): a page holds about PAGE_BYTES of them.
    const page = await store.pageWorkflows(request.tenantId, { after: start, limit, maxBytes: PAGE_BYTES });
    return sizedAnswer(page, TAGS.workflows, (w) => w.key, workflowView);
  });

  app.delete('/v1/workflows/:key', { schema: { params: IdParams('key') } }, async (request) => {
    const { key } = request.params as { key: string };
    const deleted = await store.deleteWorkflow(request.tenantId, key, Date.now());
    if (!deleted) throw notFound('workflow', key);
    forgetPageWorkflows(store, request.tenantId);
    return { key, deleted: true, cancelledEvents: deleted.events, cancelledMessages: deleted.messages };
  });

  app.delete(
    '/v1/integrations/:integrationId',
    { schema: { params: IdParams('integrationId') } },
    async (request, reply) => {
      const { integrationId } = request.params as { integrationId: string };
      if (!(await store.deleteIntegration(request.tenantId, integrationId)))
        throw notFound('integration', integrationId);
      // Sends starting from now on use the tenant's remaining integrations (or the sandbox).
      context.providers.invalidate(request.tenantId);
      return reply.status(204).send();
    },
  );

  app.get('/v1/topics', { schema: { querystring: PageQuery } }, async (request) => {
    const { cursor, limit = 50 } = request.query as PageQuery;
    const rows = await store.listTopics(request.tenantId, afterKey(cursor, TAGS.topics), limit + 1);
    const shown = rows.slice(0, limit);
    const counts = await store.countTopicMembersOf(
      request.tenantId,
      shown.map((t) => t.key),
    );
    return pageOf(
      rows,
      limit,
      TAGS.topics,
      (t) => t.key,
      (t) => ({
        key: t.key,
        name: t.name,
        createdAt: iso(t.createdAt),
        subscriberCount: counts.get(t.key) ?? 0,
      }),
    );
  });

  app.get(
    '/v1/topics/:key/subscribers',
    { schema: { params: IdParams('key'), querystring: PageQuery } },
    async (request) => {
      const { key } = request.params as { key: string };
      const { cursor, limit = 50 } = request.query as PageQuery;
      const after = afterKey(cursor, TAGS.members);
      if (!(await store.getTopic(request.tenantId, key))) throw notFound('topic', key);
      const ids = await store.topicMembersPage(request.tenantId, key, after, limit + 1);
      const found = await store.getSubscribers(request.tenantId, ids.slice(0, limit));
      const byId = new Map(found.map((s) => [s.id, s]));
      // A member whose subscriber is gone (erased) is listed by id alone.
      return pageOf(
        ids,
        limit,
        TAGS.members,
        (id) => id,
        (id) => {
          const subscriber = byId.get(id);
          return subscriber ? subscriberView(subscriber) : { subscriberId: id };
        },
      );
    },
  );

  app.delete('/v1/topics/:key', { schema: { params: IdParams('key') } }, async (request, reply) => {
    const { key } = request.params as { key: string };
    if (!(await store.deleteTopic(request.tenantId, key))) throw notFound('topic', key);
    return reply.status(204).send();
  });
}
