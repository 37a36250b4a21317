import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { quietHoursChange } from '../../pipeline/release-deferred.ts';
import {
  DEFAULT_TOKEN_LIFETIME_S,
  mintSubscriberToken,
  tokenLifetimeSeconds,
} from '../../security/subscriber-token.ts';
import { iso } from '../../shared/time.ts';
import type { ApiContext } from '../context.ts';
import { notFound, validationError } from '../errors.ts';
import { Id, IdParams, SubscriberBody, TokenBody, TopicBody, TopicMembersBody } from '../schemas.ts';
import { addTopicMembersInChunks } from '../topic-members.ts';
import { subscriberView } from '../views.ts';

export async function subscriberRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const subscriberParams = IdParams('subscriberId');

  app.put(
    '/v1/subscribers/:subscriberId',
    { schema: { params: subscriberParams, body: SubscriberBody } },
    async (request) => {
      const { subscriberId } = request.params as { subscriberId: string };
      const body = (request.body ?? {}) as SubscriberBody;
      // A new zone moves their quiet hours: what those held may go sooner.
      const quietChanged = await quietHoursChange(
        { ...context, log: request.log },
        request.tenantId,
        subscriberId,
        'timezone' in body,
      );
      const subscriber = await store.upsertSubscriber(request.tenantId, subscriberId, body, Date.now());
      await quietChanged();
      return subscriberView(subscriber);
    },
  );

  app.get('/v1/subscribers/:subscriberId', { schema: { params: subscriberParams } }, async (request) => {
    const { subscriberId } = request.params as { subscriberId: string };
    const subscriber = await store.getSubscriber(request.tenantId, subscriberId);
    if (!subscriber) throw notFound('subscriber', subscriberId);
    return subscriberView(subscriber);
  });

  app.post(
    '/v1/subscribers/:subscriberId/token',
    { schema: { params: subscriberParams, body: TokenBody } },
    async (request, reply) => {
      const { subscriberId } = request.params as { subscriberId: string };
      const { expiresIn } = (request.body ?? {}) as { expiresIn?: string | number };
      const lifetime = expiresIn === undefined ? DEFAULT_TOKEN_LIFETIME_S : tokenLifetimeSeconds(expiresIn);
      if (lifetime === null) {
        throw validationError([
          { path: 'expiresIn', message: 'must be a duration from "1s" to "7d" (or 1 to 604800 seconds)' },
        ]);
      }
      // Minting a token for a new id creates the subscriber, like triggering an event does.
      const [subscriber] = await store.loadOrCreateSubscribers(request.tenantId, [subscriberId], Date.now());
      const { token, expiresAt } = await mintSubscriberToken(
        context.keys.tokenSigning,
        { tenantId: request.tenantId, subscriberId, subscriberCreatedAt: subscriber!.createdAt },
        lifetime,
      );
      // A bearer credential: no browser or proxy cache may keep a copy.
      void reply.header('cache-control', 'no-store');
      return { token, expiresAt: iso(expiresAt) };
    },
  );

  const topicParams = IdParams('key');
  const topicView = async (tenantId: string, key: string, name: string | null, createdAt: number) => ({
    key,
    name,
    createdAt: iso(createdAt),
    subscriberCount: await store.countTopicMembers(tenantId, key),
  });

  app.put('/v1/topics/:key', { schema: { params: topicParams, body: TopicBody } }, async (request) => {
    const { key } = request.params as { key: string };
    const body = (request.body ?? {}) as { name?: string };
    const topic = await store.upsertTopic(request.tenantId, key, body.name ?? null, Date.now());
    return topicView(request.tenantId, topic.key, topic.name, topic.createdAt);
  });

  app.get('/v1/topics/:key', { schema: { params: topicParams } }, async (request) => {
    const { key } = request.params as { key: string };
    const topic = await store.getTopic(request.tenantId, key);
    if (!topic) throw notFound('topic', key);
    return topicView(request.tenantId, topic.key, topic.name, topic.createdAt);
  });

  app.post(
    '/v1/topics/:key/subscribers',
    { schema: { params: topicParams, body: TopicMembersBody } },
    async (request) => {
      const { key } = request.params as { key: string };
      const { subscriberIds } = request.body as { subscriberIds: string[] };
      // The memberships that are new: an id already a member is not added again, one named twice once.
      // Written a chunk at a time, other callers served in between (src/api/topic-members.ts).
      const added = await addTopicMembersInChunks(store, request.tenantId, key, subscriberIds, Date.now());
      if (added === null) throw notFound('topic', key);
      return {
        key,
        added,
        subscriberCount: await store.countTopicMembers(request.tenantId, key),
      };
    },
  );

  app.delete(
    '/v1/topics/:key/subscribers/:subscriberId',
    { schema: { params: Type.Object({ key: Id, subscriberId: Id }) } },
    async (request, reply) => {
      const { key, subscriberId } = request.params as { key: string; subscriberId: string };
      if (!(await store.removeTopicMember(request.tenantId, key, subscriberId))) {
        throw notFound('topic member', `${key}/${subscriberId}`);
      }
      return reply.status(204).send();
    },
  );
}
