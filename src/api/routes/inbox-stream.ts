import type { FastifyInstance, FastifyReply } from 'fastify';
import type { InboxChange } from '../../inbox/feed.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { inboxItemView } from '../views.ts';
import { StreamRegistry } from './stream-registry.ts';

/** A comment line every so often keeps proxies and load balancers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** API.md: a subscriber has at most 20 open streams; opening another closes the oldest. */
export const MAX_STREAMS_PER_SUBSCRIBER = 20;
/** Subscriber tokens only; `?token=` is accepted here (EventSource cannot set headers). */
const STREAM_ROUTE = { config: { auth: 'subscriber' as const, queryToken: true } };

function frame(event: string, data: unknown, id?: string): string {
  return `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * `GET /v1/inbox/stream`: Server-Sent Events for one subscriber — `ready` with the unread count
 * on connect, then `item.created` (a new inbox item), `item.updated` (read, seen or archived on
 * any device) and `inbox.read-all` / `inbox.seen-all`, each with the unread count after it.
 * The token may come as `?token=` (EventSource cannot set headers). A stream ends when its token
 * expires (the browser's EventSource then reconnects, is refused, and fetches a new token), and a
 * subscriber keeps at most {@link MAX_STREAMS_PER_SUBSCRIBER} open in this process — across
 * tokens; opening another ends the oldest.
 */
export async function inboxStreamRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store, inboxFeed } = context;
  const open = new StreamRegistry<FastifyReply>(MAX_STREAMS_PER_SUBSCRIBER, (reply) => reply.raw.end());
  // Streams never end by themselves: close them so the server can stop.
  app.addHook('preClose', async () => open.closeAll());

  app.get('/v1/inbox/stream', STREAM_ROUTE, async (request, reply) => {
    const { subscriberId, tokenExpiresAt } = request;
    if (!subscriberId || tokenExpiresAt === null)
      throw new ApiError('unauthorized', 'a subscriber token is required');
    const { tenantId } = request;
    const unreadCount = await store.countUnread(tenantId, subscriberId);

    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      // Set by earlier hooks (CORS for browser origins): a hijacked reply sends them itself.
      ...(reply.getHeaders() as Record<string, string>),
    });
    // A device that went away must not be written to (nor crash the process with a late 'error').
    const write = (text: string) => {
      if (!raw.writableEnded && !raw.destroyed) raw.write(text);
    };
    raw.on('error', (error) => request.log.debug({ err: error }, 'inbox stream connection failed'));
    write(frame('ready', { unreadCount }));
    const release = open.add(`${tenantId}\u0000${subscriberId}`, reply);
    // A stream must not outlive its token. setTimeout's limit (24.8 days) is far beyond 7 days.
    const expiry = setTimeout(() => raw.end(), Math.max(0, tokenExpiresAt - Date.now()));
    expiry.unref();

    // Changes are written in order, one at a time: each waits for its item and count.
    let queue = Promise.resolve();
    const send = async (change: InboxChange) => {
      const count = await store.countUnread(tenantId, subscriberId);
      if (change.type === 'item.created' || change.type === 'item.updated') {
        const item = await store.getMessage(tenantId, change.itemId);
        if (!item || item.subscriberId !== subscriberId || item.channel !== 'in_app') return;
        write(frame(change.type, { item: inboxItemView(item), unreadCount: count }, item.id));
      } else {
        write(frame(change.type, { unreadCount: count }));
      }
    };
    const unsubscribe = inboxFeed.subscribe(tenantId, subscriberId, (change) => {
      queue = queue
        .then(() => send(change))
        .catch((error) => {
          request.log.warn({ err: error }, 'inbox stream update failed');
        });
    });
    const heartbeat = setInterval(() => write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    raw.on('close', () => {
      clearInterval(heartbeat);
      clearTimeout(expiry);
      unsubscribe();
      release();
    });
  });
}
