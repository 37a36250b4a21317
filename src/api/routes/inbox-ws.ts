import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { eventText } from '../../inbox/event-text.ts';
import { inboxItemView } from '../../inbox/item-view.ts';
import { type InboxEvent, openInboxSession } from '../../inbox/session.ts';
import { ID_CHARACTERS_MESSAGE, ID_MAX_LENGTH, ID_PATTERN } from '../../ingest/fields.ts';
import { type VerifiedSubscriberToken, verifySubscriberToken } from '../../security/subscriber-token.ts';
import { TimeSlices } from '../../shared/time-slices.ts';
import { emitInboxRead, emitInboxReads } from '../../webhooks/api-events.ts';
import { tokenSubscriberHolds } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { originAllowed } from '../cors.ts';
import { ApiError, type ErrorDetail, validationError } from '../errors.ts';
import {
  HEARTBEAT_MS,
  MAX_BUFFERED_BYTES,
  resumePoint,
  type StreamHub,
  streamOwner,
  streamRefusal,
} from './inbox-stream.ts';
import { keepAlive } from './ws-keepalive.ts';

/**
 * Close codes of `GET /v1/inbox/ws`. 4xxx are ours (RFC 6455 §7.4.2 leaves them to applications),
 * chosen to read like the HTTP status they stand for.
 */
export const WS_CLOSE = {
  /** The server is stopping: reconnect (to another process) and resume. */
  shutdown: 1001,
  /** The client stopped reading and its send buffer filled: reconnect and resume. */
  tooSlow: 1013,
  /**
   * No valid subscriber token (none in time, a bad one, it expired, or its subscriber was erased):
   * fetch a new one.
   */
  unauthorized: 4401,
  /** A newer stream of the subscriber took this one's place (at most 20 each). */
  replaced: 4429,
  /** Too many connections from this address are waiting to send their token: retry shortly. */
  tooManyWaiting: 1013,
  /** No room for another stream (the tenant's share while the server is busy, or the server's): retry later. */
  busy: 1013,
} as const;

/** How long a connection without `?token=` has to send its token as the first message. */
const AUTH_TIMEOUT_MS = 10_000;
/**
 * Connections of one address still waiting to send their token: a client sends it at once, so a
 * few tabs (or a whole office behind one NAT) stay far below this; 3,000 left waiting by one
 * caller held 3,000 sockets for the timeout each.
 */
const WAITING_FOR_TOKEN_PER_ADDRESS = 32;
/** Client messages are small: one action each. */
const MAX_CLIENT_MESSAGE_BYTES = 4096;
/**
 * Client actions one connection may have waiting: past this the socket is not read until they
 * are done, so a client that sends faster than its actions run is slowed down (TCP holds the
 * rest) instead of having every frame it sends queued in memory, each a store write to come.
 */
export const MAX_WAITING_ACTIONS = 32;

/** Who a connection is for: its subscriber token, verified. */
type Identity = VerifiedSubscriberToken;

type ClientMessage =
  | { type: 'read' | 'archive' | 'seen'; itemId: string }
  | { type: 'read-all' }
  | { type: 'auth'; token: string };

const ITEM_ID = new RegExp(ID_PATTERN);

/** A client message, checked; or what is wrong with it. */
function parseClientMessage(data: string): ClientMessage | { error: string; path: string } {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { error: 'is not valid JSON', path: '(root)' };
  }
  if (typeof value !== 'object' || value === null) return { error: 'must be a JSON object', path: '(root)' };
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'read':
    case 'archive':
    case 'seen': {
      const { itemId } = message;
      if (typeof itemId !== 'string' || itemId.length === 0 || itemId.length > ID_MAX_LENGTH)
        return { error: `must be an inbox item id (1–${ID_MAX_LENGTH} characters)`, path: 'itemId' };
      // The id rule of the HTTP routes' {itemId}: a NUL would otherwise reach the store (PostgreSQL
      // refuses it in any text parameter, and the action failed as if the store were down).
      if (!ITEM_ID.test(itemId)) return { error: ID_CHARACTERS_MESSAGE, path: 'itemId' };
      return { type: message.type, itemId };
    }
    case 'read-all':
      return { type: 'read-all' };
    case 'auth':
      if (typeof message.token !== 'string') return { error: 'must be a subscriber token', path: 'token' };
      return { type: 'auth', token: message.token };
    default:
      return { error: 'must be one of "read", "archive", "seen", "read-all"', path: 'type' };
  }
}

/** The WebSocket versions `ws` speaks (RFC 6455's 13, and draft 8), as a refusal lists them. */
const WS_VERSIONS = '13, 8';
/** RFC 6455 §4.1: the key is 16 random bytes in base64 — what `ws` checks, spelled as it checks it. */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 6455 §4.1: subprotocols are RFC 9110 tokens, separated by commas (and optional whitespace). */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const WS_PROTOCOLS = new RegExp(`^${TOKEN}(?:[ \\t]*,[ \\t]*${TOKEN})*$`);

/** 426 for a request that is no WebSocket upgrade: it names the protocol to upgrade to (RFC 9110 §15.5.22). */
function upgradeRequired(details: ErrorDetail[] = []): ApiError {
  return new ApiError(
    'upgrade_required',
    'GET /v1/inbox/ws is a WebSocket: send "Upgrade: websocket"',
    details,
    { upgrade: 'websocket' },
  );
}

/**
 * What is wrong with an upgrade request's handshake, checked before the upgrade so the client gets
 * the API's answer — JSON, nosniff, CORS — instead of the bare `text/html` one `ws` writes to the
 * socket itself when its own checks fail. These are `ws`'s checks (method aside: the route is GET),
 * made no looser, so a handshake that passes them is one `ws` accepts.
 */
function handshakeRefusal(headers: FastifyRequest['headers']): ApiError | null {
  const { upgrade } = headers;
  if (typeof upgrade !== 'string' || upgrade.toLowerCase() !== 'websocket')
    return upgradeRequired([{ path: 'Upgrade', message: 'must be "websocket"' }]);
  const key = headers['sec-websocket-key'];
  if (typeof key !== 'string' || !WS_KEY.test(key))
    return validationError(
      [{ path: 'Sec-WebSocket-Key', message: 'must be 16 random bytes in base64 (24 characters)' }],
      'headers',
    );
  const version = headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') {
    const refusal = validationError(
      [{ path: 'Sec-WebSocket-Version', message: `must be one of ${WS_VERSIONS}` }],
      'headers',
    );
    // RFC 6455 §4.4: a refusal of the version lists the versions the server speaks.
    return new ApiError(refusal.errorCode, refusal.message, refusal.details, {
      'sec-websocket-version': WS_VERSIONS,
    });
  }
  const protocols = headers['sec-websocket-protocol'];
  if (protocols !== undefined) {
    const names =
      typeof protocols === 'string' && WS_PROTOCOLS.test(protocols) ? protocols.split(/[ \t]*,[ \t]*/) : [];
    if (names.length === 0 || new Set(names).size !== names.length)
      return validationError(
        [{ path: 'Sec-WebSocket-Protocol', message: 'must be a comma-separated list of distinct tokens' }],
        'headers',
      );
  }
  return null;
}

/** Connection errors a client causes by going away: nothing for the server to look into. */
const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/**
 * An error on an open socket. A client's protocol error (a frame over MAX_CLIENT_MESSAGE_BYTES, a
 * bad opcode, an unmasked frame: ws codes `WS_ERR_*`) or a peer that went away is the client's
 * doing, not the server's: logged at debug without a stack, so no client can fill the error log.
 * For a protocol error ws has already sent the close frame with its code (1009 for a frame too
 * large, 1002…): the peer gets a moment to read it, as `end` gives one. Anything else is ours.
 */
function onSocketError(error: Error & { code?: unknown }, socket: WebSocket, request: FastifyRequest): void {
  const code = typeof error.code === 'string' ? error.code : '';
  if (code.startsWith('WS_ERR_')) {
    request.log.debug({ code, reason: error.message }, 'inbox websocket closed: client protocol error');
    setTimeout(() => socket.terminate(), 2_000).unref();
    return;
  }
  if (PEER_GONE.has(code)) request.log.debug({ code }, 'inbox websocket connection lost');
  else request.log.error({ err: error }, 'inbox websocket failed');
  socket.terminate();
}

/**
 * `GET /v1/inbox/ws`: the inbox stream over a WebSocket — the same JSON events as the SSE stream
 * (inbox-stream.ts), resumable with `?after=`, plus client messages `{"type": "read" | "archive" |
 * "seen", "itemId"}` and `{"type": "read-all"}`, which act like the inbox routes (a bad one is
 * answered with `{"type": "error", "error": {code, message, details}}`, the connection stays).
 * The token comes as `?token=` (checked before the upgrade: 401) or as the first message
 * `{"type": "auth", "token"}`. Pings every {@link HEARTBEAT_MS}: a connection that has not
 * answered the previous one (while it was being read) is dead and is closed. Close codes: {@link WS_CLOSE}.
 */
export async function inboxWebSocketRoutes(
  app: FastifyInstance,
  context: ApiContext,
  hub: StreamHub,
): Promise<void> {
  const { store, inboxFeed } = context;
  /**
   * Shared by every connection's actions: a store that writes synchronously (SQLite) runs a chain
   * of actions without giving the event loop back, and 2,000 `seen` frames sent at once held every
   * other caller for 4–7 s.
   */
  const slices = new TimeSlices();
  await app.register(websocket, {
    options: { maxPayload: MAX_CLIENT_MESSAGE_BYTES },
    errorHandler: onSocketError,
    // Ours end through the hub (with code 1001) before this runs.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.terminate();
      this.websocketServer.close(() => done());
    },
  });

  /** A token sent as the first message, checked as the HTTP routes check one (an erased subscriber's holds nothing). */
  async function identify(token: string): Promise<Identity | null> {
    const claims = await verifySubscriberToken(context.keys.tokenSigning, token);
    return claims && (await tokenSubscriberHolds(store, claims)) ? claims : null;
  }

  function serve(socket: WebSocket, request: FastifyRequest, identity: Identity, after: number | null) {
    const { tenantId, subscriberId } = identity;
    const owner = streamOwner(tenantId, subscriberId);
    // A token in the URL was checked before the upgrade (with an HTTP answer); this one came after.
    const refusal = streamRefusal(hub, tenantId, owner);
    if (refusal) {
      socket.close(WS_CLOSE.busy, refusal.message.slice(0, 120));
      return;
    }
    let ended = false;
    /**
     * The server is ending the connection (erased, token expired, replaced…): ws still emits the
     * client's messages until the close handshake is done (up to 2 s), and none may act by then —
     * an erased subscriber's read or archive among them.
     */
    let stopped = false;
    const sendJson = (event: InboxEvent | Record<string, unknown>) => {
      if (ended || socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        request.log.info('inbox websocket dropped: the client stopped reading');
        end(WS_CLOSE.tooSlow, 'too slow: the send buffer is full');
        return;
      }
      socket.send(eventText(event));
    };
    const end = (code: number, reason: string) => {
      stopped = true;
      if (socket.readyState === socket.OPEN) socket.close(code, reason);
      // A peer that never answers the close (or cannot read it) is cut off.
      setTimeout(() => socket.terminate(), 2_000).unref();
    };

    const release = hub.open.add(tenantId, owner, {
      end: (why) =>
        why === 'shutdown'
          ? end(WS_CLOSE.shutdown, 'server stopping')
          : end(WS_CLOSE.replaced, 'replaced by a newer stream'),
    });
    const expiry = setTimeout(
      () => end(WS_CLOSE.unauthorized, 'token expired'),
      Math.max(0, identity.expiresAt - Date.now()),
    );
    expiry.unref();
    const stopHeartbeat = keepAlive(socket, HEARTBEAT_MS, () => {
      request.log.debug('inbox websocket reaped: no pong');
      socket.terminate();
    });

    let session: { close(): void } | null = null;
    let leave: (() => void) | null = null;
    socket.on('close', () => {
      ended = true;
      stopHeartbeat();
      clearTimeout(expiry);
      session?.close();
      release();
      leave?.();
    });

    const act = async (message: ClientMessage) => {
      const now = Date.now();
      if (stopped || message.type === 'auth') return; // ending, or already authenticated: nothing to do
      if (message.type === 'read-all') {
        const marked = await store.markAllInbox(tenantId, subscriberId, 'read', now);
        if (marked.length > 0) inboxFeed.publish([{ type: 'inbox.read-all', tenantId, subscriberId }]);
        await emitInboxReads(context, marked, now);
        return;
      }
      const item = await store.markInbox(tenantId, subscriberId, message.itemId, message.type, now);
      if (!item) {
        sendJson({
          type: 'error',
          error: { code: 'not_found', message: `inbox item "${message.itemId}" was not found`, details: [] },
        });
        return;
      }
      inboxFeed.publish([{ type: 'item.updated', tenantId, subscriberId, itemId: item.id }]);
      // Read and archive are read receipts, told to webhook endpoints like the inbox routes do.
      await emitInboxRead(context, item, now);
    };
    // Actions run one at a time, in the order sent; at most MAX_WAITING_ACTIONS wait.
    let actions = Promise.resolve();
    let waiting = 0;
    const done = () => {
      waiting--;
      if (waiting === 0 && socket.isPaused) socket.resume();
    };
    socket.on('message', (data, isBinary) => {
      const parsed = isBinary
        ? { error: 'must be a text frame', path: '(root)' }
        : parseClientMessage(String(data));
      if ('error' in parsed) {
        sendJson({
          type: 'error',
          error: {
            code: 'validation_failed',
            message: `message.${parsed.path} ${parsed.error}`,
            details: [{ path: parsed.path, message: parsed.error }],
          },
        });
        return;
      }
      if (++waiting >= MAX_WAITING_ACTIONS) socket.pause();
      actions = actions
        .then(async () => {
          await slices.yieldIfDue();
          await act(parsed);
        })
        .catch((error: unknown) => {
          request.log.warn({ err: error }, 'inbox websocket action failed');
          sendJson({
            type: 'error',
            error: { code: 'unavailable', message: 'the action failed; retry', details: [] },
          });
        })
        .finally(done);
    });

    void (async () => {
      try {
        leave = await hub.presence.enter(tenantId, subscriberId);
        if (ended) {
          leave();
          return;
        }
        const opened = await openInboxSession({
          store,
          feed: inboxFeed,
          reader: hub.reader,
          tenantId,
          subscriberId,
          after,
          view: inboxItemView,
          send: sendJson,
          onError: (error) => request.log.warn({ err: error }, 'inbox websocket update failed'),
          stillHolds: () => tokenSubscriberHolds(hub.subscribers, identity),
          onErased: () => end(WS_CLOSE.unauthorized, 'the subscriber was erased'),
          // The client reconnects (any code but 4401 and 4429), and its token is checked afresh.
          onUnverified: () => end(1011, 'could not check the token; reconnect'),
        });
        if (ended) opened.close();
        else session = opened;
      } catch (error) {
        request.log.warn({ err: error }, 'inbox websocket could not start');
        end(1011, 'could not start');
      }
    })();
  }

  /** Connections waiting for their first message (the token), by remote address. */
  const waitingForToken = new Map<string, number>();
  app.route({
    method: 'GET',
    url: '/v1/inbox/ws',
    config: { auth: 'subscriber', queryToken: true, tokenInFirstMessage: true },
    // `wsHandler` rather than `websocket: true`, which would hide the route from /openapi.json.
    // A page on an origin TIDINGS_CORS_ORIGINS does not list (browsers apply no CORS to
    // WebSockets) and a bad resume point (400 naming it) are refused before the upgrade.
    preHandler: async (request: FastifyRequest) => {
      // An upgrade request (one Node handed to the WebSocket plugin) with a handshake `ws` would
      // refuse is refused here, in the API's own words.
      const refusal = request.ws ? handshakeRefusal(request.headers) : null;
      if (refusal) throw refusal;
      if (!originAllowed(request.headers.origin, context.config.corsOrigins))
        throw new ApiError('forbidden', 'this page’s origin is not allowed (TIDINGS_CORS_ORIGINS)', [
          { path: 'Origin', message: 'is not one of TIDINGS_CORS_ORIGINS' },
        ]);
      resumePoint(request);
      const token = request.subscriberToken;
      const busy =
        token && streamRefusal(hub, token.tenantId, streamOwner(token.tenantId, token.subscriberId));
      if (busy) throw busy;
    },
    wsHandler: (socket, request) => {
      const after = resumePoint(request);
      if (request.subscriberToken) {
        serve(socket, request, request.subscriberToken, after);
        return;
      }
      // No token on the URL: the first message must carry it.
      const address = request.ip;
      const waiting = (waitingForToken.get(address) ?? 0) + 1;
      if (waiting > WAITING_FOR_TOKEN_PER_ADDRESS) {
        socket.close(WS_CLOSE.tooManyWaiting, 'too many connections from this address wait for their token');
        return;
      }
      waitingForToken.set(address, waiting);
      let counted = true;
      const done = () => {
        if (!counted) return;
        counted = false;
        const left = (waitingForToken.get(address) ?? 1) - 1;
        if (left > 0) waitingForToken.set(address, left);
        else waitingForToken.delete(address);
      };
      const timer = setTimeout(() => socket.close(WS_CLOSE.unauthorized, 'no token sent'), AUTH_TIMEOUT_MS);
      timer.unref();
      socket.once('message', (data) => {
        clearTimeout(timer);
        done();
        const message = parseClientMessage(String(data));
        if ('error' in message || message.type !== 'auth') {
          socket.close(WS_CLOSE.unauthorized, 'the first message must be {"type": "auth", "token"}');
          return;
        }
        void identify(message.token).then(
          (identity) => {
            if (!identity)
              socket.close(WS_CLOSE.unauthorized, 'the subscriber token is invalid or has expired');
            else if (socket.readyState === socket.OPEN) serve(socket, request, identity, after);
          },
          () => socket.close(WS_CLOSE.unauthorized, 'the token could not be checked'),
        );
      });
      socket.on('close', () => {
        clearTimeout(timer);
        done();
      });
    },
    // A plain GET (no upgrade) is told what this route is, not a bare 404.
    handler: async () => {
      throw upgradeRequired();
    },
  });
}
