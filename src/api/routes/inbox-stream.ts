import type { FastifyInstance, FastifyRequest } from 'fastify';
import { eventText } from '../../inbox/event-text.ts';
import { inboxItemView } from '../../inbox/item-view.ts';
import { PresenceTracker } from '../../inbox/presence.ts';
import { InboxReader } from '../../inbox/reader.ts';
import { type InboxEvent, openInboxSession, parseEventId } from '../../inbox/session.ts';
import type { SubscriberStore } from '../../store/port.ts';
import { tokenSubscriberHolds } from '../auth.ts';
import { connectionLimits, openFilesLimit } from '../connection-limits.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, validationError } from '../errors.ts';
import { batchedSubscriberLookups } from '../subscriber-lookups.ts';
import { inboxWebSocketRoutes } from './inbox-ws.ts';
import { StreamRegistry } from './stream-registry.ts';

/** A comment line (SSE) or a ping (WebSocket) every so often keeps proxies from closing an idle stream. */
export const HEARTBEAT_MS = 15_000;
/** API.md: a subscriber has at most 20 open streams (SSE and WebSocket together); another closes the oldest. */
export const MAX_STREAMS_PER_SUBSCRIBER = 20;
/**
 * Bytes a client may leave unread before it is dropped: a stalled device never makes the server
 * buffer without bound. Far above what a connected client lags by (a replay page is ~100 KB).
 */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Subscriber tokens only; `?token=` is accepted here (EventSource cannot set headers). */
const STREAM_ROUTE = { config: { auth: 'subscriber' as const, queryToken: true } };

/** One open realtime connection, whatever carries it. */
export interface OpenStream {
  /** Ends it: `reason` says why (a newer stream of the subscriber, shutdown). */
  end(reason: 'replaced' | 'shutdown'): void;
}

/** Seconds a client refused for want of room is told to wait (Retry-After). */
const RETRY_WHEN_FULL_S = 30;

/**
 * Why a new stream of `owner` may not open now (StreamRegistry.admits), as the error to answer;
 * null when it may. A tenant over its share is refused while the others still have room.
 */
export function streamRefusal(hub: StreamHub, tenantId: string, owner: string): ApiError | null {
  const admission = hub.open.admits(tenantId, owner);
  if (admission === 'open') return null;
  const headers = { 'retry-after': String(RETRY_WHEN_FULL_S) };
  return admission === 'tenant_busy'
    ? new ApiError(
        'rate_limited',
        "this tenant holds its share of this server's inbox streams while the server is busy; retry later",
        [],
        headers,
      )
    : new ApiError(
        'unavailable',
        'this server holds as many inbox streams as it takes; retry later',
        [],
        headers,
      );
}

/** The key of a subscriber's streams in the registry. */
export function streamOwner(tenantId: string, subscriberId: string): string {
  return `${tenantId}\u0000${subscriberId}`;
}

/** What the SSE and WebSocket routes of one server share: the per-subscriber cap and presence. */
export interface StreamHub {
  open: StreamRegistry<OpenStream>;
  presence: PresenceTracker;
  /** Reads the change log for all streams a ring woke together (src/inbox/reader.ts). */
  reader: InboxReader;
  /**
   * Where streams check their token still holds (tokenSubscriberHolds): together, for all of
   * them checking at once after a gap in the feed (subscriber-lookups.ts).
   */
  subscribers: Pick<SubscriberStore, 'getSubscriber'>;
}

/**
 * Where a client resumes: `?after=` or the `Last-Event-ID` header (EventSource sends it on its
 * own when it reconnects); null when neither is given. A malformed id is refused, naming it.
 */
export function resumePoint(request: FastifyRequest): number | null {
  const query = request.query as { after?: unknown };
  const header = request.headers['last-event-id'];
  const fromQuery = typeof query.after === 'string' ? query.after : undefined;
  const fromHeader = typeof header === 'string' ? header : undefined;
  const value = fromQuery ?? fromHeader;
  const parsed = parseEventId(value);
  if (parsed === 'invalid') {
    const path = fromQuery !== undefined ? 'after' : 'Last-Event-ID';
    throw validationError(
      [{ path, message: 'is not an event id this stream sent (a whole number)' }],
      fromQuery !== undefined ? 'query' : 'headers',
    );
  }
  return parsed;
}

/**
 * The last event of an SSE stream a newer one of the subscriber replaced (over 20 open). Not one
 * of the inbox's changes (no id); EventSource cannot see why a stream ended without it.
 */
const REPLACED_FRAME = 'event: stream.replaced\ndata: {"type":"stream.replaced"}\n\n';

function frame(event: InboxEvent): string {
  const id = 'id' in event ? `id: ${event.id}\n` : '';
  return `${id}event: ${event.type}\ndata: ${eventText(event)}\n\n`;
}

/**
 * `GET /v1/inbox/stream`: Server-Sent Events for one subscriber — `ready` with the unread count
 * on connect, then `item.created` (a new inbox item), `item.updated` (read, seen, archived,
 * snoozed on any device) and `inbox.read-all` / `inbox.seen-all`, each with the unread count and
 * its log id (`id:` line), which `Last-Event-ID` or `?after=` resumes from (src/inbox/session.ts).
 * The token may come as `?token=`. A stream ends when its token expires (the browser's EventSource
 * then reconnects, is refused, and fetches a new token), and a subscriber keeps at most
 * {@link MAX_STREAMS_PER_SUBSCRIBER} open in this process, SSE and WebSocket together, across
 * tokens; opening another ends the oldest. Also registers `GET /v1/inbox/ws` (inbox-ws.ts).
 */
export async function inboxStreamRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store, inboxFeed } = context;
  const hub: StreamHub = {
    open: new StreamRegistry<OpenStream>(
      MAX_STREAMS_PER_SUBSCRIBER,
      (stream) => stream.end('replaced'),
      connectionLimits(openFilesLimit(), context.config.maxStreams).streams,
    ),
    presence: new PresenceTracker(store, context.logger),
    reader: new InboxReader(store),
    subscribers: batchedSubscriberLookups(store),
  };
  // Streams never end by themselves: close them so the server can stop.
  app.addHook('preClose', async () => {
    hub.open.closeAll((stream) => stream.end('shutdown'));
    await hub.presence.stop();
  });

  app.get('/v1/inbox/stream', STREAM_ROUTE, async (request, reply) => {
    const { subscriberToken } = request;
    if (!subscriberToken) throw new ApiError('unauthorized', 'a subscriber token is required');
    const { subscriberId, expiresAt: tokenExpiresAt } = subscriberToken;
    const { tenantId } = request;
    const after = resumePoint(request);
    const owner = streamOwner(tenantId, subscriberId);
    const refusal = streamRefusal(hub, tenantId, owner);
    if (refusal) throw refusal;
    // Its place is taken before any wait, so requests arriving together cannot all pass the check.
    const raw = reply.raw;
    const release = hub.open.add(tenantId, owner, {
      end: (reason) => {
        // Said before the end (as the WebSocket's close code 4429 does), so the client stays
        // closed: reconnecting, it would replace another of the subscriber's streams in turn.
        if (reason === 'replaced' && raw.headersSent && !raw.writableEnded) raw.write(REPLACED_FRAME);
        raw.end();
      },
    });
    let leave: () => void;
    try {
      leave = await hub.presence.enter(tenantId, subscriberId);
    } catch (error) {
      release();
      throw error;
    }
    // Replaced by a newer stream of the subscriber while its presence was written: ended already.
    if (raw.writableEnded) {
      release();
      leave();
      reply.hijack();
      return;
    }

    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      // Set by earlier hooks (CORS for browser origins): a hijacked reply sends them itself.
      ...(reply.getHeaders() as Record<string, string>),
    });
    // A device that went away must not be written to (nor crash the process with a late 'error'),
    // and one that stopped reading is dropped rather than buffered for.
    const write = (text: string) => {
      if (raw.writableEnded || raw.destroyed) return;
      if (raw.writableLength > MAX_BUFFERED_BYTES) {
        request.log.info('inbox stream dropped: the client stopped reading');
        raw.destroy();
        return;
      }
      raw.write(text);
    };
    raw.on('error', (error) => request.log.debug({ err: error }, 'inbox stream connection failed'));
    // A stream must not outlive its token. setTimeout's limit (24.8 days) is far beyond 7 days.
    const expiry = setTimeout(() => raw.end(), Math.max(0, tokenExpiresAt - Date.now()));
    expiry.unref();
    const heartbeat = setInterval(() => write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    let session: { close(): void } | null = null;
    let ended = false;
    const closed = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      clearTimeout(expiry);
      session?.close();
      release();
      leave();
    };
    raw.on('close', closed);
    // A client gone while its presence was being written closed the response before the listener
    // was there, and 'close' comes only once: without this it would hold its place (and keep its
    // presence row extended) for as long as the process runs.
    if (raw.destroyed) {
      closed();
      return;
    }
    try {
      const opened = await openInboxSession({
        store,
        feed: inboxFeed,
        reader: hub.reader,
        tenantId,
        subscriberId,
        after,
        view: inboxItemView,
        send: (event) => write(frame(event)),
        onError: (error) => request.log.warn({ err: error }, 'inbox stream update failed'),
        stillHolds: () => tokenSubscriberHolds(hub.subscribers, subscriberToken),
        // Reconnecting, the browser is refused: the token's subscriber is gone.
        onErased: () => raw.end(),
        // Reconnecting, the browser's token is checked afresh.
        onUnverified: () => raw.end(),
      });
      if (ended) opened.close();
      else session = opened;
    } catch (error) {
      request.log.warn({ err: error }, 'inbox stream could not start');
      raw.end();
    }
  });

  await inboxWebSocketRoutes(app, context, hub);
}
