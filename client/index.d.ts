// Types of the Tidings client (client/index.js). Request types come from the server's own
// TypeBox schemas (client/schemas.d.ts, generated); response types follow docs/client.md.
import type {
  BulkSubscriber,
  DeviceInput,
  IntegrationInput,
  MessageQuery,
  PreferencesPatch,
  SettingsPatch,
  SubscriberFields,
  TopicFields,
  TriggerInput,
  WebhookEndpointInput,
  WorkflowDefinition,
} from './schemas.js';

export type * from './schemas.js';

export interface ErrorDetail {
  path: string;
  message: string;
}

/** Every failure: an API error (`status`, `code`, `details`) or a network one (`status` 0, `code` "network_error"). */
export declare class TidingsError extends Error {
  readonly name: 'TidingsError';
  /** The HTTP status; 0 when no answer came (network, timeout) or a webhook did not verify. */
  readonly status: number;
  /** The API's stable error code (`validation_failed`, `workflow_not_found`, …), `network_error` or `invalid_signature`. */
  readonly code: string;
  readonly details: ErrorDetail[];
  constructor(
    message: string,
    init?: { status?: number; code?: string; details?: ErrorDetail[]; cause?: unknown },
  );
}

export interface TidingsOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8787 */
  url: string;
  /** A server (secret) key. */
  apiKey: string;
  /** Another fetch (a proxy agent, a test double); the global one by default. */
  fetch?: typeof fetch;
  /** Tries after the first on 429/503 (and network failures of repeatable requests); default 3. */
  maxRetries?: number;
  /** Per try; default 30 000. */
  timeoutMs?: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageQuery {
  cursor?: string;
  limit?: number;
}

/** Pages fetched as they are iterated: `for await (const page of list)`, or `list.items()` for the items. */
export interface PageIterator<T> extends AsyncIterable<Page<T>> {
  items(): AsyncIterable<T>;
}

export type Channel = 'in_app' | 'email' | 'sms' | 'push' | 'webpush' | 'chat' | 'webhook';
export type MessageStatus =
  | 'queued'
  | 'deferred'
  | 'suppressed'
  | 'rate_limited'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'read'
  | 'clicked'
  | 'failed'
  | 'bounced'
  | 'dead'
  | 'cancelled';

export interface TimelineEntry {
  at: string;
  status: string;
  detail?: string;
}

export interface Accepted {
  eventId: string;
  status: 'accepted';
  /** Present (true) when the idempotency key had been used with the same payload: nothing was sent again. */
  duplicate?: true;
}

export interface ApiErrorBody {
  code: string;
  message: string;
  details: ErrorDetail[];
}

export interface EventMessage {
  messageId: string;
  subscriberId: string;
  channel: Channel;
  status: MessageStatus;
  reason: string | null;
  provider: string | null;
  escalated: boolean;
  timeline: TimelineEntry[];
}

export interface EventView {
  eventId: string;
  workflow: string;
  status: string;
  createdAt: string;
  messages: EventMessage[];
  [field: string]: unknown;
}

export interface Message {
  messageId: string;
  eventId: string;
  subscriberId: string;
  workflow: string;
  channel: Channel;
  status: MessageStatus;
  reason: string | null;
  provider: string | null;
  providerMessageId: string | null;
  content: Record<string, string>;
  meta: Record<string, unknown>;
  escalated: boolean;
  lastError: string | null;
  timeline: TimelineEntry[];
  createdAt: string;
  updatedAt: string;
}

export interface Subscriber {
  subscriberId: string;
  email: string | null;
  phone: string | null;
  locale: string | null;
  timezone: string | null;
  data: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface Topic {
  key: string;
  name: string | null;
  createdAt: string;
  subscriberCount: number;
}

export type Workflow = WorkflowDefinition & {
  key: string;
  paused: boolean;
  pausedReason: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
};

export interface Device {
  deviceId: string;
  platform: 'apns' | 'fcm' | 'webpush';
  active: boolean;
  deactivatedAt: string | null;
  reason: string | null;
  createdAt: string;
  [field: string]: unknown;
}

export interface Preferences {
  channels: Partial<Record<Channel, boolean>>;
  categories: Record<string, Partial<Record<Channel, boolean>>>;
  workflows: Record<string, { enabled: boolean }>;
  quietHours: { start: string; end: string } | null;
}

export interface Integration {
  id: string;
  channel: Channel;
  provider: string;
  priority: number;
  enabled: boolean;
  circuit: { state: 'closed' | 'open' | 'half_open'; failures: number; openedAt: string | null };
  [field: string]: unknown;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface TenantSettings {
  defaultTimezone: string;
  dailyCap: { perSubscriber: number } | null;
  inboxTabs: Record<string, string[]>;
  [field: string]: unknown;
}

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export declare class Tidings {
  constructor(options: TidingsOptions);
  readonly url: string;

  readonly events: {
    /** Retried on 429/503 with the same idempotency key: `options.idempotencyKey`, the input's, or a generated one. */
    trigger(input: TriggerInput, options?: { idempotencyKey?: string }): Promise<Accepted>;
    bulk(
      events: TriggerInput[],
      options?: { idempotencyKey?: string },
    ): Promise<{ results: (Accepted | { error: ApiErrorBody })[] }>;
    get(eventId: string): Promise<EventView>;
    cancel(
      eventId: string,
    ): Promise<{ eventId: string; status: 'cancelled' | 'completed'; cancelledMessages: number }>;
    cancelByKey(
      cancellationKey: string,
    ): Promise<{ cancellationKey: string; cancelledEvents: number; cancelledMessages: number }>;
  };

  readonly subscribers: {
    upsert(subscriberId: string, fields?: SubscriberFields): Promise<Subscriber>;
    get(subscriberId: string): Promise<Subscriber>;
    delete(subscriberId: string): Promise<unknown>;
    bulk(subscribers: BulkSubscriber[]): Promise<{ results: (Subscriber | { error: ApiErrorBody })[] }>;
    list(query?: PageQuery): PageIterator<Subscriber>;
    listPage(query?: PageQuery): Promise<Page<Subscriber>>;
    token(
      subscriberId: string,
      options?: { expiresIn?: string | number },
    ): Promise<{ token: string; expiresAt: string }>;
    export(subscriberId: string): Promise<Record<string, unknown>>;
    consentLog(subscriberId: string): Promise<{
      items: { at: string; change: Record<string, unknown>; source: string; detail: string | null }[];
    }>;
    /** Called: reads the preferences, or with a patch changes them (as `get` and `update`). */
    preferences: {
      (subscriberId: string, patch?: PreferencesPatch): Promise<Preferences>;
      get(subscriberId: string): Promise<Preferences>;
      update(subscriberId: string, patch: PreferencesPatch): Promise<Preferences>;
    };
    /** Called: lists the devices (as `list`). */
    devices: {
      (subscriberId: string): Promise<Page<Device>>;
      list(subscriberId: string): Promise<Page<Device>>;
      put(subscriberId: string, deviceId: string, device: DeviceInput): Promise<Device>;
      delete(subscriberId: string, deviceId: string): Promise<void>;
    };
  };

  readonly topics: {
    put(key: string, fields?: TopicFields): Promise<Topic>;
    get(key: string): Promise<Topic>;
    delete(key: string): Promise<void>;
    list(query?: PageQuery): PageIterator<Topic>;
    listPage(query?: PageQuery): Promise<Page<Topic>>;
    addSubscribers(
      key: string,
      subscriberIds: string[],
    ): Promise<{ key: string; added: number; subscriberCount: number }>;
    removeSubscriber(key: string, subscriberId: string): Promise<void>;
    subscribers(key: string, query?: PageQuery): PageIterator<Subscriber>;
  };

  readonly workflows: {
    put(key: string, definition: WorkflowDefinition): Promise<Workflow>;
    get(key: string): Promise<Workflow>;
    delete(
      key: string,
    ): Promise<{ key: string; deleted: true; cancelledEvents: number; cancelledMessages: number }>;
    list(query?: PageQuery): PageIterator<Workflow>;
    listPage(query?: PageQuery): Promise<Page<Workflow>>;
    versions(key: string): Promise<Page<Workflow>>;
    rollback(key: string, version: number): Promise<Workflow>;
    preview(
      key: string,
      input: {
        subscriberId?: string;
        subscriber?: Record<string, unknown>;
        data?: Record<string, unknown>;
        locale?: string;
        actor?: string;
      },
    ): Promise<{ channels: { channel: Channel; content: Record<string, unknown> }[] }>;
    stats(key: string): Promise<Record<string, unknown>>;
  };

  readonly webhookEndpoints: {
    /** Answers the signing secret (`secret`) once, when the endpoint is created. */
    put(id: string, endpoint: WebhookEndpointInput): Promise<WebhookEndpoint & { secret?: string }>;
    list(): Promise<Page<WebhookEndpoint>>;
    delete(id: string): Promise<void>;
    /** A new secret; the old one keeps signing beside it for 24 h. */
    rotate(id: string): Promise<WebhookEndpoint & { secret: string }>;
    /** Sends a `ping` event. */
    test(id: string): Promise<unknown>;
  };

  readonly settings: {
    get(): Promise<TenantSettings>;
    update(patch: SettingsPatch): Promise<TenantSettings>;
  };

  readonly deadLetters: {
    list(query?: PageQuery): PageIterator<Message>;
    listPage(query?: PageQuery): Promise<Page<Message>>;
    replay(messageId: string): Promise<unknown>;
  };

  readonly integrations: {
    put(id: string, integration: IntegrationInput): Promise<Integration>;
    get(id: string): Promise<Integration>;
    delete(id: string): Promise<void>;
    list(): Promise<Page<Integration>>;
  };

  readonly messages: {
    /** An async iterator over pages of messages, newest first. */
    list(query?: Omit<MessageQuery, 'cursor'> & { cursor?: string }): PageIterator<Message>;
    listPage(query?: MessageQuery): Promise<Page<Message>>;
    get(messageId: string): Promise<Message>;
    receipt(
      messageId: string,
      status: 'delivered' | 'read' | 'clicked',
    ): Promise<{ messageId: string; status: MessageStatus }>;
  };

  readonly webhooks: {
    /**
     * Verifies a Standard Webhooks signature (status webhooks, the webhook channel) against the
     * raw body and answers the parsed body; throws TidingsError `invalid_signature` otherwise.
     */
    verify(
      body: string | Uint8Array,
      headers: Headers | Record<string, string | string[] | undefined>,
      secret: string,
      options?: { toleranceSeconds?: number; now?: number },
    ): Promise<unknown>;
  };

  /** One call to any route, with the client's auth, retries and errors. */
  request<T = unknown>(
    method: string,
    path: string,
    init?: { body?: unknown; idempotencyKey?: string },
  ): Promise<T>;
}

export default Tidings;
