import { Readable } from 'node:stream';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import Type from 'typebox';
import { bodyHash } from '../../ingest/canonical.ts';
import { CancellationKey, IdempotencyKey } from '../../ingest/fields.ts';
import { EventBody, validateEvent } from '../../ingest/schema.ts';
import { IDEMPOTENCY_WINDOW_MS } from '../../ingest/service.ts';
import { topicKeys, unknownTopicDetails } from '../../ingest/topics.ts';
import { TimeSlices } from '../../shared/time-slices.ts';
import type { AcceptResult, BulkResponse } from '../../store/port.ts';
import type { ApiContext } from '../context.ts';
import {
  ApiError,
  type ErrorDetail,
  MAX_BULK_ITEM_DETAILS,
  MAX_ERROR_DETAILS,
  notFound,
  validationError,
} from '../errors.ts';
import { eventDocument } from '../event-document.ts';
import { eventWorkDone } from '../event-work-done.ts';
import { IdParams } from '../schemas.ts';
import { itemwiseBodyCompiler, typeboxValidatorCompiler } from '../validation.ts';

const MAX_BULK = 1000;

/** `DELETE /v1/events?cancellationKey=…`: the key is required (a bare DELETE cancels nothing). */
const CancelByKeyQuery = Type.Object({ cancellationKey: CancellationKey }, { additionalProperties: false });

/** Event bodies are checked recipient by recipient, so errors name the exact field. */
const eventBodyCompiler: FastifySchemaCompiler<unknown> = ({ httpPart }) => {
  if (httpPart !== 'body') return () => ({ value: undefined });
  return (data: unknown) => {
    const result = validateEvent(data, Date.now());
    return result.ok ? { value: result.value } : { error: validationError(result.details) };
  };
};

/**
 * The key a bulk item without one of its own is accepted under when the request carries an
 * Idempotency-Key: a repeat of the request (even one racing the first) then finds each event
 * already accepted, in the same transaction that stores it, instead of making a second set. The
 * separators are control characters, which client keys cannot contain, so no client key collides.
 */
function bulkItemKey(bulkKey: string, index: number): string {
  return `\u001fbulk\u001f${bulkKey}\u001f${index}`;
}

/**
 * The stored first answer to a keyed bulk request, or 409 when this body is not the one it
 * answered. A first answer stored by a version that hashed keys in their order (before
 * 2026-12-07; kept 24 h) is matched that way too, so a retry across an upgrade is replayed.
 */
function replayed(first: BulkResponse, hash: string, body: unknown): unknown {
  if (first.bodyHash === hash || first.bodyHash === bodyHash(body, true)) return first.response;
  throw new ApiError(
    'idempotency_key_reused',
    'this Idempotency-Key was used in the last 24 h for a bulk request with a different body',
    [{ path: 'Idempotency-Key', message: 'was already used with a different body' }],
  );
}

/**
 * A bulk item without a key of its own, whose key derived from the request's Idempotency-Key
 * (bulkItemKey) was used in the last 24 h for another body. That happens only when no bulk answer
 * is stored under the key (say the request that accepted the item stopped before storing its
 * answer), so the item is answered alone. The item sent no `idempotencyKey`: the header is named.
 */
function headerKeyReused(eventId: string | undefined, index: number): ApiError {
  const first = eventId === undefined ? '' : ` (event ${eventId})`;
  return new ApiError(
    'idempotency_key_reused',
    `the idempotency key derived from the Idempotency-Key header for events[${index}] was used in the last 24 h with a different body${first}`,
    [
      {
        path: 'Idempotency-Key',
        message: `was already used with a different body for events[${index}] (its key is derived from the header)`,
      },
    ],
  );
}

/** An item's details, their paths under `events[index]`. */
function itemDetails(details: ErrorDetail[], index: number): ErrorDetail[] {
  return details.map((d) => ({
    ...d,
    path: d.path === '' ? `events[${index}]` : `events[${index}].${d.path}`,
  }));
}

/** A bulk item larger than POST /v1/events accepts as a body: the 413 that endpoint would answer. */
function itemTooLarge(index: number, limit: number) {
  return new ApiError(
    'payload_too_large',
    `events[${index}] is larger than the ${limit} bytes POST /v1/events accepts as one event`,
    [
      {
        path: `events[${index}]`,
        message: `must be at most ${limit} bytes as JSON, as a body of POST /v1/events`,
      },
    ],
  ).toBody().error;
}

/**
 * 422 naming the recipients whose topic does not exist (the first `max`; the message counts all).
 */
function topicNotFound(details: ErrorDetail[], max = MAX_ERROR_DETAILS): ApiError {
  const named = details.slice(0, 10).map((d) => d.path);
  const more = details.length > named.length ? ` (and ${details.length - named.length} more)` : '';
  return new ApiError(
    'topic_not_found',
    `no topic at ${named.join(', ')}${more}: create it with PUT /v1/topics/{key}`,
    details.slice(0, max),
  );
}

function acceptedBody(eventId: string, duplicate: boolean) {
  return duplicate ? { eventId, status: 'accepted', duplicate: true } : { eventId, status: 'accepted' };
}

/**
 * Why an event was refused. `keyPath` names where its idempotency key came from: the body's
 * `idempotencyKey`, or the `Idempotency-Key` header when only the header carried it (the caller
 * sent no such field to fix).
 */
function rejection(
  result: Extract<AcceptResult, { ok: false }>,
  workflow: string,
  keyPath: 'idempotencyKey' | 'Idempotency-Key' = 'idempotencyKey',
): ApiError {
  return result.code === 'workflow_not_found'
    ? new ApiError(
        'workflow_not_found',
        `no workflow "${workflow}": create it with PUT /v1/workflows/${encodeURIComponent(workflow)}`,
        [{ path: 'workflow', message: 'is not a known workflow' }],
      )
    : new ApiError(
        'idempotency_key_reused',
        `this idempotency key was used in the last 24 h for a different payload (event ${result.eventId})`,
        [{ path: keyPath, message: 'was already used with a different payload' }],
      );
}

/**
 * Topic keys looked up per store read: a bulk request may name hundreds of thousands, and one
 * read of them all held the API thread for a quarter of a second.
 */
const TOPIC_LOOKUP_CHUNK = 5_000;

export async function eventRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { ingest, store, metrics } = context;

  app.post(
    '/v1/events',
    {
      schema: {
        body: EventBody,
        headers: Type.Object({
          'idempotency-key': Type.Optional(IdempotencyKey),
        }),
      },
      validatorCompiler: (route) =>
        route.httpPart === 'body' ? eventBodyCompiler(route) : typeboxValidatorCompiler(route as never),
    },
    async (request, reply) => {
      const body = request.body as EventBody;
      const header = request.headers['idempotency-key'] as string | undefined;
      if (header !== undefined && body.idempotencyKey !== undefined && header !== body.idempotencyKey) {
        throw new ApiError(
          'idempotency_key_mismatch',
          'the Idempotency-Key header and body.idempotencyKey differ',
          [{ path: 'idempotencyKey', message: 'differs from the Idempotency-Key header' }],
        );
      }
      const unknownTopics = unknownTopicDetails(body, await knownTopicsOf(request.tenantId, [body]));
      if (unknownTopics.length > 0) throw topicNotFound(unknownTopics);
      const result = await ingest.accept(request.tenantId, body, header ?? body.idempotencyKey ?? null);
      if (!result.ok)
        throw rejection(
          result,
          body.workflow,
          body.idempotencyKey === undefined ? 'Idempotency-Key' : 'idempotencyKey',
        );
      metrics.eventsAccepted.inc({ outcome: result.duplicate ? 'duplicate' : 'accepted' });
      return reply.status(result.duplicate ? 200 : 202).send(acceptedBody(result.eventId, result.duplicate));
    },
  );

  /**
   * The topics among those `events` name that exist: a read per TOPIC_LOOKUP_CHUNK keys (none when
   * no event names a topic), the event loop given back between them when `slices` says so.
   */
  async function knownTopicsOf(
    tenantId: string,
    events: EventBody[],
    slices?: TimeSlices,
  ): Promise<Set<string>> {
    const keys = topicKeys(events);
    const known = new Set<string>();
    for (let i = 0; i < keys.length; i += TOPIC_LOOKUP_CHUNK) {
      for (const key of await store.knownTopics(tenantId, keys.slice(i, i + TOPIC_LOOKUP_CHUNK)))
        known.add(key);
      await slices?.yieldIfDue();
    }
    return known;
  }

  /**
   * One bulk item's checks before it reaches the ingest: its body, or why it is refused (invalid,
   * too large, an unknown topic).
   */
  function vetted(
    checked: ReturnType<typeof validateEvent>,
    index: number,
    topics: ReadonlySet<string>,
    /** The request's body may be larger than POST /v1/events accepts (else no item can be). */
    mayExceed: boolean,
  ) {
    if (!checked.ok) {
      const details = itemDetails(checked.details, index);
      return { error: validationError(details, 'body', MAX_BULK_ITEM_DETAILS).toBody().error };
    }
    // An item is held to the body limit of POST /v1/events, whose body it would be (API.md: each
    // result is "the single endpoint's body"). Sized once valid (no deeper than 32 levels), as
    // compact JSON: never more than the item's bytes as sent, so what the single endpoint takes
    // is never refused here.
    if (mayExceed && Buffer.byteLength(JSON.stringify(checked.value)) > context.config.bodyLimit)
      return { error: itemTooLarge(index, context.config.bodyLimit) };
    const unknownTopics = unknownTopicDetails(checked.value, topics);
    if (unknownTopics.length > 0) {
      return {
        error: topicNotFound(itemDetails(unknownTopics, index), MAX_BULK_ITEM_DETAILS).toBody().error,
      };
    }
    return { body: checked.value };
  }

  /** One bulk item that passed its checks: accepted under its own key or one derived from the request's. */
  async function acceptItem(tenantId: string, body: EventBody, index: number, bulkKey: string | null) {
    const ownKey = body.idempotencyKey;
    const key = ownKey ?? (bulkKey === null ? null : bulkItemKey(bulkKey, index));
    const result = await ingest.accept(tenantId, body, key);
    if (!result.ok) {
      // A key derived from the header is no field of the item: the header is named instead.
      if (result.code === 'idempotency_key_reused' && ownKey === undefined)
        return { error: headerKeyReused(result.eventId, index).toBody().error };
      // Like every refused item, its fields are named under events[index].
      const refused = rejection(result, body.workflow).toBody().error;
      return { error: { ...refused, details: itemDetails(refused.details, index) } };
    }
    metrics.eventsAccepted.inc({ outcome: result.duplicate ? 'duplicate' : 'accepted' });
    // A derived key serves only this bulk request and its repeats, for this very item: whichever
    // of them accepted the event answered it as a first acceptance, and the first response (so
    // every replay) says so. A repeat racing the first (past the replay check before the first
    // saved its answer) answers the same, as the answer saved first is the one every caller gets.
    const derived = ownKey === undefined && bulkKey !== null;
    return acceptedBody(result.eventId, result.duplicate && !derived);
  }

  app.post(
    '/v1/events/bulk',
    {
      bodyLimit: context.config.bulkBodyLimit,
      schema: {
        body: Type.Object(
          { events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BULK }) },
          { additionalProperties: false },
        ),
        headers: Type.Object({ 'idempotency-key': Type.Optional(IdempotencyKey) }),
      },
      // Each item is held to the JSON limits by validateEvent, so one bad item refuses only itself.
      validatorCompiler: itemwiseBodyCompiler,
    },
    async (request, reply) => {
      const { events } = request.body as { events: unknown[] };
      const { tenantId } = request;
      const now = Date.now();
      const bulkKey = (request.headers['idempotency-key'] as string | undefined) ?? null;
      const hash = bulkKey === null ? null : bodyHash(request.body);
      if (bulkKey !== null) {
        const first = await store.getBulkResponse(tenantId, bulkKey, now - IDEMPOTENCY_WINDOW_MS);
        if (first) return reply.status(202).send(replayed(first, hash!, request.body));
      }
      // A bulk of 16 MB can name a million recipients: checking them held the API thread for the
      // whole request (0.9 s for 520,000 topics, every tenant's requests waiting). Each step gives
      // the event loop back every few milliseconds; a bulk of small events takes no turn at all.
      const slices = new TimeSlices();
      const checked: ReturnType<typeof validateEvent>[] = [];
      for (const item of events) {
        checked.push(validateEvent(item, now));
        await slices.yieldIfDue();
      }
      const topics = await knownTopicsOf(
        tenantId,
        checked.flatMap((c) => (c.ok ? [c.value] : [])),
        slices,
      );
      // Sizing each item costs a serialisation: skipped when the whole body is within the limit.
      const length = Number(request.headers['content-length'] ?? Number.NaN);
      const mayExceed = !(length <= context.config.bodyLimit);
      const items: ReturnType<typeof vetted>[] = [];
      for (const [index, item] of checked.entries()) {
        items.push(vetted(item, index, topics, mayExceed));
        await slices.yieldIfDue();
      }
      // The items that passed go to the ingest together, with no turn taken between them: they
      // share its commits (ingest/service.ts), which a turn between two would split.
      const results = await Promise.all(
        items.map((item, index) => (item.body ? acceptItem(tenantId, item.body, index, bulkKey) : item)),
      );
      if (bulkKey === null) return reply.status(202).send({ results });
      // A concurrent duplicate may have saved its answer first: both then answer with that one.
      const saved = await store.saveBulkResponse(
        { tenantId, key: bulkKey, bodyHash: hash!, response: { results }, createdAt: now },
        IDEMPOTENCY_WINDOW_MS,
      );
      return reply.status(202).send(replayed(saved, hash!, request.body));
    },
  );

  app.get('/v1/events/:eventId', { schema: { params: IdParams('eventId') } }, async (request, reply) => {
    const { eventId } = request.params as { eventId: string };
    const event = await store.getEvent(request.tenantId, eventId);
    if (!event) throw notFound('event', eventId);
    // Streamed: an event to a large topic lists thousands of messages (eventDocument).
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .send(Readable.from(await eventDocument(store, event)));
  });

  app.delete('/v1/events/:eventId', { schema: { params: IdParams('eventId') } }, async (request) => {
    const { eventId } = request.params as { eventId: string };
    const event = await store.getEvent(request.tenantId, eventId);
    if (!event) throw notFound('event', eventId);
    // Nothing left to stop: a completed event stays completed rather than read cancelled.
    if (await eventWorkDone(store, event)) return { eventId, status: 'completed', cancelledMessages: 0 };
    const cancelled = await store.cancelEvent(request.tenantId, eventId, Date.now());
    return { eventId, status: 'cancelled', cancelledMessages: cancelled };
  });

  app.delete('/v1/events', { schema: { querystring: CancelByKeyQuery } }, async (request) => {
    const { cancellationKey } = request.query as { cancellationKey: string };
    const cancelled = await store.cancelEventsByKey(request.tenantId, cancellationKey, Date.now());
    return {
      cancellationKey,
      cancelledEvents: cancelled.events,
      cancelledMessages: cancelled.messages,
    };
  });
}
