import type { Config } from '../config/index.ts';
import type { InboxFeed } from '../inbox/feed.ts';
import type { IngestService } from '../ingest/service.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { JobSignal } from '../queue/signal.ts';
import type { Keys } from '../security/secrets.ts';
import type { VerifiedSubscriberToken } from '../security/subscriber-token.ts';
import type { Store } from '../store/port.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { WebhookEmitter } from '../webhooks/emit.ts';

/** Everything the HTTP routes need, built once by the runtime. */
export interface ApiContext {
  config: Config;
  store: Store;
  ingest: IngestService;
  providers: ProviderRegistry;
  signal: JobSignal;
  keys: Keys;
  logger: Logger;
  metrics: Metrics;
  /** Inbox changes of this process, for the realtime streams (and published by the inbox routes). */
  inboxFeed: InboxFeed;
  /** Queues outbound webhook events for status changes the API makes; forgets endpoints a route changed. */
  webhooks: WebhookEmitter;
  /** Why this process's workers cannot take work (claims failing, a dead thread), or null; /readyz reports it. */
  workerHealth?: () => string | null;
}

/** `operator`: the TIDINGS_OPERATOR_KEY routes (tenants and keys); 404 when it is unset. */
export type AuthMode = 'none' | 'server' | 'subscriber' | 'server-or-subscriber' | 'operator';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; checked in onRequest, before the body is read. */
    auth?: AuthMode;
    /**
     * Stream routes only: a subscriber token may come as `?token=` (EventSource and WebSocket
     * cannot set headers). Never a server key: URLs end up in logs.
     */
    queryToken?: boolean;
    /**
     * The WebSocket route only: without a token on the request, the connection is let through
     * and must send one as its first message (checked there).
     */
    tokenInFirstMessage?: boolean;
  }
  interface FastifyRequest {
    tenantId: string;
    /** Set when the caller used a subscriber token. */
    subscriberId: string | null;
    /** The caller's subscriber token as verified; null for a server key. */
    subscriberToken: VerifiedSubscriberToken | null;
  }
}
