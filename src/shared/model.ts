/** The domain vocabulary shared by every room. Times inside the system are epoch milliseconds. */

export const LANES = ['critical', 'high', 'normal', 'bulk'] as const;
export type Lane = (typeof LANES)[number];

export const CHANNELS = ['in_app', 'email', 'sms', 'push', 'webpush', 'chat', 'webhook'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * The partition of one recipient's sends on one channel and lane. Partitions are global to the
 * queue, so the tenant is part of the key: without it, two tenants' subscribers named `user_1`
 * waited for each other's sends. Tenant ids hold no `:` (`default`, `ten_…`) and channel and
 * lane are names of ours, so the key reads back unambiguously from both ends. (Jobs queued with
 * the older key keep it; they still leave one at a time, just not serialised with new ones.)
 */
export function sendPartition(tenantId: string, subscriberId: string, channel: string, lane: Lane): string {
  return `${tenantId}:${subscriberId}:${channel}:${lane}`;
}

/**
 * API.md's closed list. An escalation is not a status: the message keeps its own and gains
 * `escalated: true` and an `escalated` timeline entry (src/pipeline/fallback.ts).
 */
export const MESSAGE_STATUSES = [
  'queued',
  'deferred',
  'suppressed',
  'rate_limited',
  'sending',
  'sent',
  'delivered',
  'read',
  'clicked',
  'failed',
  'bounced',
  'dead',
  'cancelled',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/**
 * Waiting for their send, or in it: the statuses a send starts from. A send writes its records
 * before the provider call only from these, so a cancel that came first is never overwritten.
 */
export const UNSENT_STATUSES = ['queued', 'deferred', 'sending'] as const satisfies readonly MessageStatus[];
export const UNSENT: ReadonlySet<MessageStatus> = new Set(UNSENT_STATUSES);

export const FINAL_STATUSES: ReadonlySet<MessageStatus> = new Set([
  'delivered',
  'read',
  'clicked',
  'failed',
  'bounced',
  'dead',
  'cancelled',
  'suppressed',
  'rate_limited',
]);

/** Why a message did not go out (API.md "Messages"): stable codes clients can program against. */
export const MESSAGE_REASONS = [
  'bad_address',
  'blocked_target',
  'template_error',
  'template_timeout',
  'no_device',
  'no_address',
  'opted_out',
  'workflow_paused',
  'rate_limited',
  'online',
  'provider_rejected',
  'retries_exhausted',
  /** A fallback step not sent: an earlier channel of its delivery got the receipt it waited for. */
  'receipt',
] as const;
export type MessageReason = (typeof MESSAGE_REASONS)[number];

/** One line of a message's story: what happened, when, and why. */
export interface TimelineEntry {
  at: string;
  status: string;
  detail?: string;
}

/** A recipient as written in an event's `to`. */
export type Recipient =
  | string
  | {
      subscriberId: string;
      email?: string;
      phone?: string;
      locale?: string;
      timezone?: string;
      data?: object;
    }
  | { topic: string };

export interface EventInput {
  workflow: string;
  to: Recipient[];
  data?: Record<string, unknown>;
  idempotencyKey?: string;
  /** Shared by events one `DELETE /v1/events?cancellationKey=` cancels together. */
  cancellationKey?: string;
  priority?: Lane;
  sendAt?: string;
  actor?: string;
  /** The locale to render in, instead of each recipient's own. */
  locale?: string;
  /** Deliver at this local time in each recipient's zone (policy/local-schedule.ts). */
  schedule?: { localTime: string; spreadOver?: string };
}

export interface EventRecord {
  tenantId: string;
  id: string;
  workflow: string;
  payload: EventInput;
  priority: Lane;
  status: string;
  createdAt: number;
  /** The workflow version current when the event was accepted; null for events older than versions. */
  workflowVersion: number | null;
  /**
   * How many parts of the work that resolves its recipients (its fanout job, each page of a
   * topic, each deliver job) are still to run. Parts that made nothing for anyone (no message,
   * skipped step or digest join) always count down: 0 with no message means all of it ran and
   * nobody got anything, so the event is completed. Parts that made something count down only
   * once the event `countsEveryPart`. Null for events accepted before it was counted
   * (migration 038).
   */
  openParts: number | null;
  /**
   * Every part counts down in `openParts`, those that made messages too, so the event is not
   * complete while one is left. Set by the first change written to the count, which an event
   * only makes when it has more than one part at a time or ran one that made nothing
   * (pipeline/open-parts.ts); an event delivered by its first job alone never sets it, and its
   * messages tell its status. False for events accepted before it was kept (migration 046).
   */
  countsEveryPart: boolean;
}

export interface SubscriberRecord {
  tenantId: string;
  id: string;
  email: string | null;
  phone: string | null;
  /**
   * Set on records the store hands out (which open email and phone only when read): whether the
   * subscriber has an email / phone, and the keyed hashes of them (src/store/personal-fields.ts),
   * so deciding and checking suppressions opens no address.
   */
  hasEmail?: boolean;
  hasPhone?: boolean;
  emailHash?: string | null;
  phoneHash?: string | null;
  locale: string | null;
  timezone: string | null;
  data: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export type SubscriberPatch = Partial<
  Pick<SubscriberRecord, 'email' | 'phone' | 'locale' | 'timezone' | 'data'>
>;

/** A template is a set of named fields (title, body, subject, html, text…), each a Liquid source. */
export type TemplateFields = Record<string, string>;

/** One arm of an A/B test: recipients get it in proportion to `weight`, each always the same one. */
export interface StepVariant {
  name: string;
  weight: number;
  template: TemplateFields;
  locales?: Record<string, TemplateFields>;
}

export interface WorkflowChannelStep {
  channel: Channel;
  /** The step's fields; absent when the step has `variants` instead. */
  template?: TemplateFields;
  /** An A/B test instead of one `template` (pipeline/variants.ts). */
  variants?: StepVariant[];
  /** Email steps: the key of the layout their html is wrapped in (templates/layout.ts). */
  layout?: string;
  /**
   * Email steps: the Reply-To for every template of the step (a template of its own), where a
   * template sets no `replyTo` field of its own (API.md: "email steps may set `replyTo`").
   */
  replyTo?: string;
  /** Fields per BCP 47 tag, overlaying `template` for recipients of that locale (templates/locale.ts). */
  locales?: Record<string, TemplateFields>;
  fallback?: { after: string; unless: 'delivered' | 'read' | 'clicked' };
  /** A Liquid expression over data, subscriber and actor: false skips this step for that recipient. */
  if?: string;
  /**
   * push, webpush, sms, email: suppressed (reason `online`) when the subscriber has a live inbox
   * connection as the message is about to go out — the in-app item is the delivery.
   */
  skipIfOnline?: boolean;
}

/** A step a recipient did not get because its `if` was false (the event view lists them). */
export interface SkippedStep {
  tenantId: string;
  eventId: string;
  subscriberId: string;
  /** The step's index in the workflow's `channels`. */
  step: number;
  channel: Channel;
  /** e.g. `condition false: data.amount > 100` */
  reason: string;
  createdAt: number;
}

/** What a workflow rate limit counts: per recipient, per recipient and channel, or all recipients. */
export const RATE_LIMIT_PER = ['subscriber', 'subscriber+channel', 'tenant'] as const;

/** A workflow rate limit: at most `limit` per `window` (a duration such as "1h") per `per`. */
export interface RateLimitRule {
  per: (typeof RATE_LIMIT_PER)[number];
  limit: number;
  window: string;
}

export interface WorkflowDefinition {
  name?: string;
  /** The locale recipients without a matching one get (`en` unless set). */
  defaultLocale?: string;
  /** ICU MessageFormat strings per locale and key, used through the `t` filter. */
  messages?: Record<string, Record<string, string>>;
  category?: string;
  priority?: Lane;
  quietHours?: 'bypass' | 'respect';
  paused?: boolean;
  channels: WorkflowChannelStep[];
  rateLimit?: RateLimitRule[];
  /**
   * Gather a subscriber's events with one rendered `key` for `window` after the first, then send
   * one message (src/policy/digest.ts).
   */
  digest?: { window: string; key?: string };
  /** What inbox items show of the event data: all of it (default), none, or these top-level keys. */
  inboxData?: 'all' | 'none' | string[];
  /** Choices that hold for subscribers who made none of their own (e.g. email off until opted in). */
  defaultPreferences?: { channels?: ChannelChoices };
  /**
   * Email only, both off unless set: a signed open pixel in the HTML part (`read`), and its
   * http(s) links rewritten through Tidings (`clicked`) (src/pipeline/tracking.ts).
   */
  tracking?: { opens?: boolean; clicks?: boolean };
}

/** On (true) or off (false) per channel; a channel not named is left to the next rule. */
export type ChannelChoices = Partial<Record<Channel, boolean>>;

/** A daily window in the subscriber's own time zone, `HH:MM` to `HH:MM` (it may cross midnight). */
export interface QuietHours {
  start: string;
  end: string;
}

/**
 * A subscriber's own consent choices (API.md "preferences"). What is absent is no choice: the
 * workflow's `defaultPreferences`, then "on", apply.
 */
export interface PreferenceChoices {
  channels: ChannelChoices;
  /** Per category (the workflow's `category`), per channel. */
  categories: Record<string, ChannelChoices>;
  /** Per workflow key. */
  workflows: Record<string, { enabled: boolean }>;
  quietHours: QuietHours | null;
}

/** Categories whose messages a subscriber cannot opt out of (MFA codes, password resets, alerts). */
export const MANDATORY_CATEGORIES: ReadonlySet<string> = new Set(['transactional', 'security']);

/** Channels that interrupt a person: quiet hours hold them back (the inbox and webhooks never wait). */
export const INTERRUPTIVE_CHANNELS: ReadonlySet<Channel> = new Set([
  'push',
  'webpush',
  'sms',
  'email',
  'chat',
]);

/** A tenant's settings (API.md `GET`/`PATCH /v1/settings`). */
export interface TenantSettings {
  /** IANA zone for subscribers without one of their own. */
  defaultTimezone: string;
  /** Most notifications one subscriber gets per day across workflows (not transactional or security); null: no cap. */
  dailyCap: DailyCap | null;
  /** Inbox tabs by name, each a set of workflow categories (API.md `inboxTabs`). */
  inboxTabs: Record<string, string[]>;
}

/** A tenant's cap across workflows (API.md settings `dailyCap`). */
export interface DailyCap {
  perSubscriber: number;
}

export interface WorkflowRecord {
  tenantId: string;
  key: string;
  definition: WorkflowDefinition;
  version: number;
  createdAt: number;
  updatedAt: number;
  /** Set when Tidings paused the workflow itself (renders kept timing out); a PUT clears it. */
  pausedReason: string | null;
  /** Renders in a row that ran past their time budget (reset by a render that did not, and by a PUT). */
  renderTimeouts: number;
}

/** One immutable version of an email layout: its source and the HTML compiled from it once. */
export interface LayoutRecord {
  tenantId: string;
  key: string;
  version: number;
  kind: 'mjml' | 'html';
  source: string;
  /** The compiled HTML, holding `{{ content }}` exactly once. */
  html: string;
  createdAt: number;
}

/** One immutable version of a workflow: what a PUT (or a rollback) saved. */
export interface WorkflowVersionRecord {
  tenantId: string;
  key: string;
  version: number;
  definition: WorkflowDefinition;
  createdAt: number;
}

/** Paused by its definition (the kill switch) or by Tidings (renders that kept timing out): nothing new goes out. */
export function isPaused(workflow: WorkflowRecord): boolean {
  return workflow.definition.paused === true || workflow.pausedReason !== null;
}

/** An integration's circuit breaker (API.md `circuit.state`). */
export type CircuitState = 'closed' | 'open' | 'half_open';

export interface IntegrationRecord {
  tenantId: string;
  id: string;
  channel: Channel;
  provider: string;
  priority: number;
  config: Record<string, unknown>;
  /** Encrypted at rest; the store hands back the sealed string, `providers/` opens it. */
  sealedCredentials: string | null;
  enabled: boolean;
  /** Sends through this integration per second, across every worker and process; null = no limit. */
  perSecond: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface MessageRecord {
  tenantId: string;
  id: string;
  eventId: string;
  subscriberId: string;
  channel: Channel;
  workflow: string;
  status: MessageStatus;
  provider: string | null;
  /**
   * push / webpush: the one device this message goes to. A message is unique per (event,
   * subscriber, channel, device); absent or null on every other message (stored as '').
   */
  deviceId?: string | null;
  /** The provider's id for the accepted message (APNs `apns-id`, FCM `name`, Twilio `sid`…), once it said. */
  providerMessageId?: string | null;
  /** What the channel adds (API.md "Messages" `meta`): `deviceId`, merged with the provider's outcome meta. */
  meta?: MessageMeta;
  /** The rendered template fields. */
  content: Record<string, string>;
  /** Event data, kept for the inbox item. */
  data: Record<string, unknown>;
  timeline: TimelineEntry[];
  /** Event time: inbox order and per-recipient order follow it. */
  eventAt: number;
  createdAt: number;
  updatedAt: number;
  seenAt: number | null;
  readAt: number | null;
  archivedAt: number | null;
  /** In-app: hidden from the inbox until then (a snooze); absent or null otherwise. */
  snoozedUntil?: number | null;
  lastError: string | null;
  /** Why a message did not go out (or was stopped): a stable code from MESSAGE_REASONS, else null. */
  reason: MessageReason | null;
  /** A fallback step was sent because this message got no receipt in time (src/pipeline/fallback.ts). */
  escalated?: boolean;
}

/** What a channel adds to a message's `meta` (API.md "Messages"): deviceId, segments, collapseId… */
export type MessageMeta = Record<string, string | number | boolean>;

/** Where a device's pushes go: APNs and FCM devices take the `push` channel, web push ones `webpush`. */
export const DEVICE_PLATFORMS = ['apns', 'fcm', 'webpush'] as const;
export type DevicePlatform = (typeof DEVICE_PLATFORMS)[number];

/** The platforms each device channel reaches. */
export const PLATFORMS_OF_CHANNEL: Readonly<Partial<Record<Channel, readonly DevicePlatform[]>>> = {
  push: ['apns', 'fcm'],
  webpush: ['webpush'],
};

/** Why a device was deactivated (API.md device `reason`): a provider reported its token dead. */
export const DEVICE_REASONS = ['unregistered', 'bad_token', 'expired'] as const;
export type DeviceReason = (typeof DEVICE_REASONS)[number];

/** A browser's PushSubscription (RFC 8030 endpoint, RFC 8291 keys in base64url). */
export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** A subscriber's device: where their push or web push messages go. */
export interface DeviceRecord {
  tenantId: string;
  subscriberId: string;
  id: string;
  platform: DevicePlatform;
  /** APNs device token or FCM registration token; '' for web push. */
  token: string;
  /** Web push only. */
  subscription: WebPushSubscription | null;
  /** False once a provider reported the token dead: later sends skip it until it is PUT again. */
  active: boolean;
  deactivatedAt: number | null;
  reason: DeviceReason | null;
  createdAt: number;
  updatedAt: number;
}

export interface SandboxCapture {
  id: string;
  tenantId: string;
  messageId: string;
  channel: Channel;
  to: string | null;
  content: Record<string, unknown>;
  createdAt: number;
}

/**
 * Why an address is suppressed (src/feedback): a hard bounce, soft bounces that kept coming, a
 * spam complaint, or an SMS STOP. Later sends to it on that channel are `suppressed`.
 */
export const SUPPRESSION_REASONS = ['hard_bounce', 'soft_bounces', 'complaint', 'sms_stop'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** Where a consent change came from (API.md consent log `source`). */
export const CONSENT_SOURCES = [
  'api',
  'preference_page',
  'unsubscribe_link',
  'sms_stop',
  'complaint',
  'bounce',
] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

/** An address a tenant must not send to on one channel, kept under a hash of the address (src/feedback/address.ts). */
export interface SuppressionRecord {
  tenantId: string;
  channel: Channel;
  addressHash: string;
  reason: SuppressionReason;
  detail: string;
  createdAt: number;
}
