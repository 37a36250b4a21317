import type { OutboundGuard } from '../security/outbound/index.ts';
import type {
  Channel,
  DevicePlatform,
  DeviceReason,
  MessageMeta,
  WebPushSubscription,
} from '../shared/model.ts';

export type { MessageMeta };

/**
 * What a provider said, in our closed vocabulary. The pipeline decides retries and final
 * statuses from this alone, never from provider quirks.
 * - accepted: the provider took the message (status `sent`, or `delivered` for the inbox/sandbox).
 * - retryable: try again later (timeouts, 5xx, 429, SMTP 4xx); `retryAfterMs` when the provider said.
 *   With `integrationFailed`, the adapter knows the integration itself is broken and the message
 *   never reached the provider (connection refused or unreachable, credentials refused: SMTP
 *   EAUTH, HTTP 401/403 about our key): the send fails over to the next integration within the
 *   same attempt, and the failure counts against this integration's circuit breaker, never
 *   against the message (src/pipeline/failover.ts). With `recipientOnly`, the provider is well
 *   and only this recipient cannot take the message now (an SMTP server's full mailbox at RCPT):
 *   the send is retried, and the answer counts as a success for the circuit breaker.
 * - permanent: the provider refused this message for good (status `failed`).
 * - bad_address: the recipient address is unusable (status `failed`, later: suppression / token removal).
 * - blocked_target: the integration's host is one the private-target rule refuses (status
 *   `failed`, reason `blocked_target`; never retried: the same host is refused again).
 * - opted_out: the provider refuses because the recipient opted out of this channel with it
 *   (Twilio 21610: the number texted STOP). The message is `suppressed` with reason `opted_out`
 *   and the subscriber's preference for the channel is turned off, so later sends stop before
 *   the provider instead of being refused one by one.
 */
export type SendOutcome =
  | { kind: 'accepted'; providerMessageId?: string; detail?: string; meta?: MessageMeta }
  | {
      kind: 'retryable';
      reason: string;
      retryAfterMs?: number;
      integrationFailed?: true;
      recipientOnly?: true;
    }
  | { kind: 'permanent'; reason: string; meta?: MessageMeta }
  | { kind: 'bad_address'; reason: string; deactivate?: DeviceDeactivation }
  | { kind: 'blocked_target'; reason: string }
  | { kind: 'opted_out'; reason: string };

/**
 * Why a provider said a device token is dead (API.md device `reason`): the device is deactivated
 * at once and later sends skip it.
 */
export type DeviceDeactivation = DeviceReason;

/** The device a push or web-push message goes to (one message per active device). */
export interface DeviceTarget {
  id: string;
  platform: DevicePlatform;
  /** APNs device token or FCM registration token; empty for web push. */
  token: string;
  /** Web push only: the browser's PushSubscription. */
  subscription?: WebPushSubscription;
}

/** One rendered message on its way to a provider. */
export interface OutboundMessage {
  tenantId: string;
  messageId: string;
  eventId: string;
  workflow: string;
  channel: Channel;
  subscriber: {
    id: string;
    email: string | null;
    phone: string | null;
    locale: string | null;
    timezone: string | null;
  };
  /** Rendered template fields (title, body, subject, html, text…). */
  content: Record<string, string>;
  /** The event's data, for providers that forward structured payloads (webhooks). */
  data: Record<string, unknown>;
  /** push / webpush: the one device this message goes to. */
  device?: DeviceTarget;
  /** push: the subscriber's unread inbox count at send time (for `badge: "unread"`). */
  unreadCount?: number;
  /** email: the one-click unsubscribe URL (absent for transactional and security categories). */
  unsubscribeUrl?: string;
  /** The send's attempt number (1 on the first try): idempotency ids stay the same across attempts. */
  attempt?: number;
  /**
   * An adapter that queues sends itself (SMTP: one per pooled connection) calls this when the send
   * leaves its queue: the circuit breaker times the provider from then, so a backlog waiting on a
   * healthy server is not read as the server's slowness. Adapters that never queue don't call it.
   */
  leftQueue?: () => void;
}

/** A configured provider, ready to send. Adapters know one provider and nothing about queues. */
export interface ChannelProvider {
  /** Provider name as used in integrations (`smtp`, `webhook`, `sandbox`…). */
  readonly name: string;
  send(message: OutboundMessage): Promise<SendOutcome>;
  /** Releases pooled connections. */
  close?(): Promise<void>;
}

/** What every provider is built with: the one guarded way to reach hosts a tenant named. */
export interface ProviderContext {
  outbound: OutboundGuard;
  /** The integration being built (absent when a client is built outside one, e.g. in tests). */
  integrationId?: string;
  /**
   * TIDINGS_PUBLIC_URL: where providers reach Tidings back (Twilio's StatusCallback is
   * `{publicUrl}/v1/providers/{integrationId}/webhook`). Absent: no callback is asked for.
   */
  publicUrl?: string;
}

/**
 * Config or credentials a provider cannot be built from, found offline when the client is
 * built (at `PUT`): `path` names the field (`credentials.dkimPrivateKey`, `config.url`…).
 */
export class ProviderConfigError extends Error {
  override name = 'ProviderConfigError';

  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}
