import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { sendJob } from '../../pipeline/deps.ts';
import type { MessageRecord } from '../../shared/model.ts';
import { iso } from '../../shared/time.ts';
import type { MessageFilter, Store } from '../../store/port.ts';
import type { ApiContext } from '../context.ts';
import { CURSOR_MAX_LENGTH, readCursor, sizedAnswer } from '../cursors.ts';
import { ApiError, notFound } from '../errors.ts';
import { Channel, IdParams, Limit, MessageQuery } from '../schemas.ts';
import { PAGE_BYTES } from '../sized-pages.ts';
import { decodeCursor, encodeCursor, messageView } from '../views.ts';

/** Marks the cursors of the message lists (messages and dead letters page the same way, by id). */
const CURSOR_TAG = 'm1';

/** Marks the cursors of the sandbox's captures (paged by capture id). */
const CAPTURE_TAG = 's1';

/** The workflow version each message rendered with: its event's, read once per event of the page. */
async function versionsOf(store: Store, items: MessageRecord[]): Promise<Map<string, number | null>> {
  const ids = new Set(items.map((m) => `${m.tenantId}\u0000${m.eventId}`));
  const refs = [...ids].map((id) => {
    const [tenantId, eventId] = id.split('\u0000') as [string, string];
    return { tenantId, id: eventId };
  });
  const events = refs.length === 0 ? [] : await store.getEvents(refs);
  return new Map(events.map((e) => [`${e.tenantId}\u0000${e.id}`, e.workflowVersion]));
}

/**
 * A page of up to `limit` messages of `filter`, below message id `start` (from the newest when
 * undefined), with a cursor only when more remain (no empty last page). A message's content may
 * be 2 MB (MAX_MESSAGE_CHARS): a page stops at about PAGE_BYTES of them (SizedPage) — 40 such
 * messages were answered as one 64 MB body, holding every tenant's requests for a second.
 */
async function page(
  store: Store,
  filter: Omit<MessageFilter, 'beforeId' | 'limit'>,
  start: string | undefined,
  limit: number,
) {
  const read = await store.pageMessages({
    ...filter,
    ...(start === undefined ? {} : { beforeId: start }),
    limit,
    maxBytes: PAGE_BYTES,
  });
  const versions = await versionsOf(store, read.rows);
  return sizedAnswer(
    read,
    CURSOR_TAG,
    (m) => m.id,
    (m) => messageView(m, versions.get(`${m.tenantId}\u0000${m.eventId}`) ?? null),
  );
}

/**
 * The id a page starts below; a cursor this API did not issue is a 400 naming it (readCursor).
 * Cursors issued before lists tagged theirs held the message id alone: still read, so a client
 * paging through an upgrade goes on. (`msg_` ids only: nothing else was ever issued here.)
 */
function beforeId(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const untagged = decodeCursor(cursor);
  if (untagged?.length === 1 && LEGACY_MESSAGE_CURSOR.test(untagged[0]!) && encodeCursor(untagged) === cursor)
    return untagged[0];
  return readCursor(cursor, CURSOR_TAG, 1)[0];
}

const LEGACY_MESSAGE_CURSOR = /^msg_[0-9a-z_]{1,96}$/;

export async function messageRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store, signal } = context;
  const params = IdParams('messageId');

  app.get('/v1/messages', { schema: { querystring: MessageQuery } }, async (request) => {
    const query = request.query as MessageQuery;
    const limit = query.limit ?? 50;
    const { cursor: _cursor, limit: _limit, ...filters } = query;
    return page(store, { tenantId: request.tenantId, ...filters }, beforeId(query.cursor), limit);
  });

  app.get('/v1/messages/:messageId', { schema: { params } }, async (request) => {
    const { messageId } = request.params as { messageId: string };
    const message = await store.getMessage(request.tenantId, messageId);
    if (!message) throw notFound('message', messageId);
    const event = await store.getEvent(request.tenantId, message.eventId);
    return messageView(message, event?.workflowVersion ?? null);
  });

  const deadQuery = Type.Object(
    {
      cursor: Type.Optional(Type.String({ maxLength: CURSOR_MAX_LENGTH })),
      limit: Type.Optional(Limit(200, 50)),
    },
    { additionalProperties: false },
  );
  app.get('/v1/dead-letters', { schema: { querystring: deadQuery } }, async (request) => {
    const query = request.query as { cursor?: string; limit?: number };
    const limit = query.limit ?? 50;
    return page(store, { tenantId: request.tenantId, status: 'dead' }, beforeId(query.cursor), limit);
  });

  app.post('/v1/dead-letters/:messageId/replay', { schema: { params } }, async (request, reply) => {
    const { messageId } = request.params as { messageId: string };
    const message = await store.getMessage(request.tenantId, messageId);
    if (!message) throw notFound('message', messageId);
    if (message.status !== 'dead') {
      throw new ApiError(
        'conflict',
        `message ${messageId} is ${message.status}; only dead messages can be replayed`,
      );
    }
    const event = await store.getEvent(request.tenantId, message.eventId);
    const lane = event?.priority ?? 'normal';
    const now = Date.now();
    const replayed = await store.replayDeadMessage(request.tenantId, messageId, {
      status: 'queued',
      lastError: null,
      reason: null,
      append: [{ at: iso(now), status: 'queued', detail: 'replayed from the dead letters' }],
      now,
      followUp: sendJob(message, lane),
    });
    // Another replay got there first.
    if (!replayed)
      throw new ApiError('conflict', `message ${messageId} is no longer dead; it was replayed already`);
    signal.notify(lane);
    return reply.status(202).send({ messageId, status: 'queued' });
  });

  const sandboxQuery = Type.Object(
    {
      channel: Type.Optional(Channel),
      cursor: Type.Optional(Type.String({ maxLength: CURSOR_MAX_LENGTH })),
      limit: Type.Optional(Limit(500, 50)),
    },
    { additionalProperties: false },
  );
  app.get('/v1/sandbox/messages', { schema: { querystring: sandboxQuery } }, async (request) => {
    const query = request.query as { channel?: MessageRecord['channel']; cursor?: string; limit?: number };
    const start = query.cursor === undefined ? undefined : readCursor(query.cursor, CAPTURE_TAG, 1)[0];
    // A capture holds a message's content (up to MAX_MESSAGE_CHARS): 500 of them were answered
    // at once. A page stops at about PAGE_BYTES of contents, as the message lists do (SizedPage).
    const captures = await store.pageSandboxCaptures({
      tenantId: request.tenantId,
      limit: query.limit ?? 50,
      ...(query.channel ? { channel: query.channel } : {}),
      ...(start === undefined ? {} : { beforeId: start }),
      maxBytes: PAGE_BYTES,
    });
    return sizedAnswer(
      captures,
      CAPTURE_TAG,
      (c) => c.id,
      (c) => ({
        id: c.id,
        messageId: c.messageId,
        channel: c.channel,
        to: c.to,
        content: c.content,
        createdAt: iso(c.createdAt),
      }),
    );
  });
}
