import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import Type from 'typebox';
import { IdempotencyKey } from '../../ingest/fields.ts';
import { EventBody, validateEvent } from '../../ingest/schema.ts';
import type { AcceptResult } from '../../store/port.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, type ErrorDetail, notFound, validationError } from '../errors.ts';
import { IdParams } from '../schemas.ts';
import { itemwiseBodyCompiler, typeboxValidatorCompiler } from '../validation.ts';
import { eventStatus, eventView } from '../views.ts';

const MAX_BULK = 1000;

/** Event bodies are checked recipient by recipient, so errors name the exact field. */
const eventBodyCompiler: FastifySchemaCompiler<unknown> = ({ httpPart }) => {
  if (httpPart !== 'body') return () => ({ value: undefined });
  return (data: unknown) => {
    const result = validateEvent(data, Date.now());
    return result.ok ? { value: result.value } : { error: validationError(result.details) };
  };
};

/**
 * Options API.md names that are not built yet. They are refused, not ignored: silently sending
 * now what was asked for 09:00 local time would be worse than a clear answer.
 */
function unsupported(body: EventBody): ApiError | null {
  if (body.schedule === undefined) return null;
  return new ApiError(
    'unprocessable',
    "schedule (delivery at each recipient's local time) is not supported yet; use sendAt",
    [{ path: 'schedule', message: 'is not supported yet' }],
  );
}

function acceptedBody(result: Extract<AcceptResult, { ok: true }>) {
  return result.duplicate
    ? { eventId: result.eventId, status: 'accepted', duplicate: true }
    : { eventId: result.eventId, status: 'accepted' };
}

function rejection(result: Extract<AcceptResult, { ok: false }>, workflow: string): ApiError {
  return result.code === 'workflow_not_found'
    ? new ApiError(
        'workflow_not_found',
        `no workflow "${workflow}": create it with PUT /v1/workflows/${workflow}`,
        [{ path: 'workflow', message: 'is not a known workflow' }],
      )
    : new ApiError(
        'idempotency_key_reused',
        `this idempotency key was used in the last 24 h for a different payload (event ${result.eventId})`,
        [{ path: 'idempotencyKey', message: 'was already used with a different payload' }],
      );
}

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
      const refused = unsupported(body);
      if (refused) throw refused;
      const result = await ingest.accept(request.tenantId, body, header ?? body.idempotencyKey ?? null);
      if (!result.ok) throw rejection(result, body.workflow);
      metrics.eventsAccepted.inc({ outcome: result.duplicate ? 'duplicate' : 'accepted' });
      return reply.status(result.duplicate ? 200 : 202).send(acceptedBody(result));
    },
  );

  app.post(
    '/v1/events/bulk',
    {
      bodyLimit: context.config.bulkBodyLimit,
      schema: {
        body: Type.Object(
          { events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BULK }) },
          { additionalProperties: false },
        ),
      },
      // Each item is held to the JSON limits by validateEvent, so one bad item refuses only itself.
      validatorCompiler: itemwiseBodyCompiler,
    },
    async (request, reply) => {
      const { events } = request.body as { events: unknown[] };
      const now = Date.now();
      const results = await Promise.all(
        events.map(async (item, index) => {
          const checked = validateEvent(item, now);
          if (!checked.ok) {
            const details: ErrorDetail[] = checked.details.map((d) => ({
              ...d,
              path: d.path === '' ? `events[${index}]` : `events[${index}].${d.path}`,
            }));
            return { error: validationError(details).toBody().error };
          }
          const refused = unsupported(checked.value);
          if (refused) return { error: refused.toBody().error };
          const result = await ingest.accept(
            request.tenantId,
            checked.value,
            checked.value.idempotencyKey ?? null,
          );
          if (!result.ok) return { error: rejection(result, checked.value.workflow).toBody().error };
          metrics.eventsAccepted.inc({ outcome: result.duplicate ? 'duplicate' : 'accepted' });
          return acceptedBody(result);
        }),
      );
      return reply.status(202).send({ results });
    },
  );

  app.get('/v1/events/:eventId', { schema: { params: IdParams('eventId') } }, async (request) => {
    const { eventId } = request.params as { eventId: string };
    const event = await store.getEvent(request.tenantId, eventId);
    if (!event) throw notFound('event', eventId);
    const messages = await store.listMessages({ tenantId: request.tenantId, eventId, limit: 10_000 });
    messages.reverse();
    return eventView(event, messages, eventStatus(event, messages));
  });

  app.delete('/v1/events/:eventId', { schema: { params: IdParams('eventId') } }, async (request) => {
    const { eventId } = request.params as { eventId: string };
    const event = await store.getEvent(request.tenantId, eventId);
    if (!event) throw notFound('event', eventId);
    const cancelled = await store.cancelEvent(request.tenantId, eventId, Date.now());
    return { eventId, status: 'cancelled', cancelledMessages: cancelled };
  });
}
