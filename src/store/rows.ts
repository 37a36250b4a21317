import type { PersonalData } from '../security/personal-data.ts';
import type {
  Channel,
  DevicePlatform,
  DeviceReason,
  DeviceRecord,
  EventRecord,
  IntegrationRecord,
  Lane,
  LayoutRecord,
  MessageReason,
  MessageRecord,
  MessageStatus,
  SandboxCapture,
  SkippedStep,
  SubscriberRecord,
  WorkflowRecord,
  WorkflowVersionRecord,
} from '../shared/model.ts';
import type {
  BulkResponse,
  DeadJob,
  DeferredMessage,
  EventMessageSummary,
  Job,
  MarkedItem,
  MessageChange,
  WebhookEndpointRecord,
} from './port.ts';

/**
 * Row shapes as the adapters return them, and their mapping to the domain records. Both hand
 * JSON columns back as text (see src/store/postgres/client.ts); booleans are 0/1 in SQLite and
 * real booleans in PostgreSQL.
 */

type JsonColumn = string;

const fromJson = (value: JsonColumn) => JSON.parse(value);

export interface SubscriberRow {
  tenant_id: string;
  id: string;
  /** Sealed (src/security/personal-data.ts), or plain in a row written before encryption. */
  email: string | null;
  phone: string | null;
  email_hash: string | null;
  phone_hash: string | null;
  locale: string | null;
  timezone: string | null;
  data: JsonColumn;
  created_at: number;
  updated_at: number;
}

/**
 * A `data` column (a subscriber's, a message's): PostgreSQL keeps it as its JSON text, a JSONB
 * string, so its keys come back in the order they were sent (postgres/ordered-json.ts); data is
 * always an object, so a string read is that text.
 */
function dataAsSent(column: JsonColumn): Record<string, unknown> {
  return asSent(fromJson(column)) as Record<string, unknown>;
}

/** Data read back: the object itself, or the JSON text PostgreSQL keeps it as, parsed. */
function asSent(data: unknown): unknown {
  return typeof data === 'string' ? JSON.parse(data) : data;
}

/**
 * A subscriber as the store hands it out. Email and phone are opened when first read, not when
 * the row is loaded: a delivery that only checks whether an address exists, or sends in-app,
 * decrypts nothing (a sealed value is non-empty exactly when the address is). A class, so the
 * accessors live once on the prototype: an object literal with its own getters costs V8 a slow
 * define per object, which a 100k-recipient fanout paid twice over (BENCHMARKS.md).
 */
class StoredSubscriber implements SubscriberRecord {
  readonly tenantId: string;
  readonly id: string;
  readonly hasEmail: boolean;
  readonly hasPhone: boolean;
  readonly emailHash: string | null;
  readonly phoneHash: string | null;
  locale: string | null;
  timezone: string | null;
  data: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  #personal: PersonalData;
  #sealedEmail: string | null;
  #sealedPhone: string | null;
  #email: string | null | undefined = undefined;
  #phone: string | null | undefined = undefined;

  constructor(row: SubscriberRow, personal: PersonalData) {
    this.tenantId = row.tenant_id;
    this.id = row.id;
    this.hasEmail = row.email !== null && row.email !== '';
    this.hasPhone = row.phone !== null && row.phone !== '';
    this.emailHash = row.email_hash;
    this.phoneHash = row.phone_hash;
    this.locale = row.locale;
    this.timezone = row.timezone;
    this.data = dataAsSent(row.data);
    this.createdAt = row.created_at;
    this.updatedAt = row.updated_at;
    this.#personal = personal;
    this.#sealedEmail = row.email;
    this.#sealedPhone = row.phone;
  }

  get email(): string | null {
    if (this.#email === undefined) this.#email = this.#personal.openNullable(this.#sealedEmail);
    return this.#email;
  }

  set email(value: string | null) {
    this.#email = value;
  }

  get phone(): string | null {
    if (this.#phone === undefined) this.#phone = this.#personal.openNullable(this.#sealedPhone);
    return this.#phone;
  }

  set phone(value: string | null) {
    this.#phone = value;
  }

  /** Plain data for JSON (the accessors are not own properties, so JSON.stringify would drop them). */
  toJSON(): SubscriberRecord {
    return { ...this, email: this.email, phone: this.phone };
  }
}

export function toSubscriber(row: SubscriberRow, personal: PersonalData): SubscriberRecord {
  return new StoredSubscriber(row, personal);
}

export interface EventRow {
  tenant_id: string;
  id: string;
  workflow: string;
  payload: JsonColumn;
  priority: string;
  status: string;
  created_at: number;
  workflow_version: number | null;
  open_parts: number | null;
  counts_every_part: number | boolean | null;
}

/** An event's payload with its `data` as sent (PostgreSQL keeps that as JSON text: see dataAsSent). */
function payloadAsSent(payload: EventRecord['payload']): EventRecord['payload'] {
  if (typeof payload?.data !== 'string') return payload;
  return { ...payload, data: asSent(payload.data) as EventRecord['payload']['data'] };
}

export function toEvent(row: EventRow): EventRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    workflow: row.workflow,
    payload: payloadAsSent(fromJson(row.payload)),
    priority: row.priority as Lane,
    status: row.status,
    createdAt: row.created_at,
    workflowVersion: row.workflow_version ?? null,
    openParts: row.open_parts ?? null,
    countsEveryPart: Boolean(row.counts_every_part),
  };
}

export interface WorkflowRow {
  tenant_id: string;
  key: string;
  definition: JsonColumn;
  version: number;
  created_at: number;
  updated_at: number;
  paused_reason: string | null;
  render_timeouts: number;
}

export function toWorkflow(row: WorkflowRow): WorkflowRecord {
  return {
    tenantId: row.tenant_id,
    key: row.key,
    definition: fromJson(row.definition),
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    pausedReason: row.paused_reason,
    renderTimeouts: row.render_timeouts,
  };
}

export interface WorkflowVersionRow {
  tenant_id: string;
  key: string;
  version: number;
  definition: JsonColumn;
  created_at: number;
}

export function toWorkflowVersion(row: WorkflowVersionRow): WorkflowVersionRecord {
  return {
    tenantId: row.tenant_id,
    key: row.key,
    version: row.version,
    definition: fromJson(row.definition),
    createdAt: row.created_at,
  };
}

export interface LayoutRow {
  tenant_id: string;
  key: string;
  version: number;
  kind: string;
  source: string;
  html: string;
  created_at: number | string;
}

export function toLayout(row: LayoutRow): LayoutRecord {
  return {
    tenantId: row.tenant_id,
    key: row.key,
    version: row.version,
    kind: row.kind as LayoutRecord['kind'],
    source: row.source,
    html: row.html,
    createdAt: Number(row.created_at),
  };
}

export interface IntegrationRow {
  tenant_id: string;
  id: string;
  channel: string;
  provider: string;
  priority: number;
  config: JsonColumn;
  credentials: string | null;
  enabled: number | boolean;
  rate_limit_per_second: number | null;
  created_at: number;
  updated_at: number;
}

export function toIntegration(row: IntegrationRow): IntegrationRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    channel: row.channel as Channel,
    provider: row.provider,
    priority: row.priority,
    config: fromJson(row.config),
    sealedCredentials: row.credentials,
    enabled: row.enabled === 1 || row.enabled === true,
    perSecond: row.rate_limit_per_second ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface MessageRow {
  tenant_id: string;
  id: string;
  event_id: string;
  subscriber_id: string;
  channel: string;
  workflow: string;
  status: string;
  provider: string | null;
  content: JsonColumn;
  data: JsonColumn;
  timeline: JsonColumn;
  event_at: number;
  created_at: number;
  updated_at: number;
  seen_at: number | null;
  read_at: number | null;
  archived_at: number | null;
  last_error: string | null;
  reason: string | null;
  device_id: string;
  provider_message_id: string | null;
  meta: JsonColumn;
  snoozed_until: number | string | null;
  escalated: number | boolean;
}

export function toMessage(row: MessageRow): MessageRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    eventId: row.event_id,
    subscriberId: row.subscriber_id,
    channel: row.channel as Channel,
    workflow: row.workflow,
    status: row.status as MessageStatus,
    provider: row.provider,
    content: fromJson(row.content),
    data: dataAsSent(row.data),
    timeline: fromJson(row.timeline),
    eventAt: row.event_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    seenAt: row.seen_at,
    readAt: row.read_at,
    archivedAt: row.archived_at,
    lastError: row.last_error,
    reason: row.reason as MessageReason | null,
    deviceId: row.device_id === '' ? null : row.device_id,
    providerMessageId: row.provider_message_id,
    meta: fromJson(row.meta),
    snoozedUntil: row.snoozed_until === null ? null : Number(row.snoozed_until),
    escalated: row.escalated === 1 || row.escalated === true,
  };
}

/** The columns MessageStore.listEventMessages reads. */
export const EVENT_MESSAGE_COLUMNS =
  'id, subscriber_id, channel, status, reason, provider, escalated, timeline';

export function toEventMessage(
  row: Pick<
    MessageRow,
    'id' | 'subscriber_id' | 'channel' | 'status' | 'reason' | 'provider' | 'escalated' | 'timeline'
  >,
): EventMessageSummary {
  return {
    id: row.id,
    subscriberId: row.subscriber_id,
    channel: row.channel as Channel,
    status: row.status as MessageStatus,
    reason: row.reason as MessageReason | null,
    provider: row.provider,
    escalated: row.escalated === 1 || row.escalated === true,
    timeline: fromJson(row.timeline),
  };
}

/** The columns MessageStore.messageChanges reads. */
export type MessageChangeRow = Pick<
  MessageRow,
  | 'tenant_id'
  | 'id'
  | 'event_id'
  | 'subscriber_id'
  | 'channel'
  | 'workflow'
  | 'status'
  | 'reason'
  | 'last_error'
  | 'timeline'
  | 'created_at'
  | 'updated_at'
>;

export const MESSAGE_CHANGE_COLUMNS =
  'tenant_id, id, event_id, subscriber_id, channel, workflow, status, reason, last_error, timeline, created_at, updated_at';

export function toMessageChange(row: MessageChangeRow): MessageChange {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    eventId: row.event_id,
    subscriberId: row.subscriber_id,
    channel: row.channel as Channel,
    workflow: row.workflow,
    status: row.status as MessageStatus,
    reason: row.reason as MessageReason | null,
    lastError: row.last_error,
    timeline: fromJson(row.timeline),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface DeferredRow {
  id: string;
  subscriber_id: string;
  channel: string;
  lane: string;
}

export function toDeferred(tenantId: string, row: DeferredRow): DeferredMessage {
  return {
    tenantId,
    id: row.id,
    subscriberId: row.subscriber_id,
    channel: row.channel as Channel,
    lane: row.lane as Lane,
  };
}

export interface DeviceRow {
  tenant_id: string;
  subscriber_id: string;
  id: string;
  platform: string;
  token: string;
  subscription: JsonColumn | null;
  active: number | boolean;
  deactivated_at: number | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

/**
 * A web push subscription is stored as a JSON string holding the sealed subscription JSON (a JSON
 * value, so PostgreSQL's JSONB column takes it); a row written before encryption holds the object.
 */
export function sealSubscription(
  subscription: DeviceRecord['subscription'],
  personal: PersonalData,
): string | null {
  return subscription === null ? null : JSON.stringify(personal.seal(JSON.stringify(subscription)));
}

function openSubscription(stored: JsonColumn | null, personal: PersonalData): DeviceRecord['subscription'] {
  if (stored === null) return null;
  const value = fromJson(stored);
  return typeof value === 'string' ? fromJson(personal.open(value)) : value;
}

/** A device as the store hands it out: its token (or web push subscription) opened when first read (a class for the reason StoredSubscriber is). */
class StoredDevice implements DeviceRecord {
  readonly tenantId: string;
  readonly subscriberId: string;
  readonly id: string;
  readonly platform: DevicePlatform;
  active: boolean;
  deactivatedAt: number | null;
  reason: DeviceReason | null;
  createdAt: number;
  updatedAt: number;
  #personal: PersonalData;
  #sealedToken: string;
  #sealedSubscription: JsonColumn | null;
  #token: string | undefined = undefined;
  #subscription: DeviceRecord['subscription'] | undefined = undefined;

  constructor(row: DeviceRow, personal: PersonalData) {
    this.tenantId = row.tenant_id;
    this.subscriberId = row.subscriber_id;
    this.id = row.id;
    this.platform = row.platform as DevicePlatform;
    this.active = row.active === 1 || row.active === true;
    this.deactivatedAt = row.deactivated_at;
    this.reason = row.reason as DeviceReason | null;
    this.createdAt = row.created_at;
    this.updatedAt = row.updated_at;
    this.#personal = personal;
    this.#sealedToken = row.token;
    this.#sealedSubscription = row.subscription;
  }

  get token(): string {
    if (this.#token === undefined)
      this.#token = this.#sealedToken === '' ? '' : this.#personal.open(this.#sealedToken);
    return this.#token;
  }

  set token(value: string) {
    this.#token = value;
  }

  get subscription(): DeviceRecord['subscription'] {
    if (this.#subscription === undefined)
      this.#subscription = openSubscription(this.#sealedSubscription, this.#personal);
    return this.#subscription;
  }

  set subscription(value: DeviceRecord['subscription']) {
    this.#subscription = value;
  }

  toJSON(): DeviceRecord {
    return { ...this, token: this.token, subscription: this.subscription };
  }
}

export function toDevice(row: DeviceRow, personal: PersonalData): DeviceRecord {
  return new StoredDevice(row, personal);
}

export interface JobRow {
  id: number;
  tenant_id: string;
  kind: string;
  lane: string;
  partition_key: string | null;
  payload: JsonColumn;
  attempts: number;
  max_attempts: number;
  run_at: number;
  created_at: number;
  last_error: string | null;
}

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kind: row.kind,
    lane: row.lane as Lane,
    partitionKey: row.partition_key,
    payload: fromJson(row.payload),
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    createdAt: row.created_at,
  };
}

export function toDeadJob(row: JobRow): DeadJob {
  return { ...toJob(row), lastError: row.last_error };
}

export interface SandboxCaptureRow {
  tenant_id: string;
  id: string;
  message_id: string;
  channel: string;
  recipient: string | null;
  content: JsonColumn;
  created_at: number;
}

export function toSandboxCapture(row: SandboxCaptureRow, personal: PersonalData): SandboxCapture {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    messageId: row.message_id,
    channel: row.channel as Channel,
    to: personal.openNullable(row.recipient),
    content: fromJson(row.content),
    createdAt: row.created_at,
  };
}

export interface SkippedStepRow {
  tenant_id: string;
  event_id: string;
  subscriber_id: string;
  step: number;
  channel: string;
  reason: string;
  created_at: number;
}

export function toSkippedStep(row: SkippedStepRow): SkippedStep {
  return {
    tenantId: row.tenant_id,
    eventId: row.event_id,
    subscriberId: row.subscriber_id,
    step: row.step,
    channel: row.channel as Channel,
    reason: row.reason,
    createdAt: row.created_at,
  };
}

export interface BulkRow {
  tenant_id: string;
  key: string;
  body_hash: string;
  response: JsonColumn;
  created_at: number;
}

export function toBulkResponse(row: BulkRow): BulkResponse {
  return {
    tenantId: row.tenant_id,
    key: row.key,
    bodyHash: row.body_hash,
    response: asSent(fromJson(row.response)) as object,
    createdAt: row.created_at,
  };
}

export interface WebhookEndpointRow {
  tenant_id: string;
  id: string;
  url: string;
  events: JsonColumn;
  sealed_secrets: string;
  enabled: number | boolean;
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
}

export function toWebhookEndpoint(row: WebhookEndpointRow): WebhookEndpointRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    url: row.url,
    events: fromJson(row.events),
    sealedSecrets: row.sealed_secrets,
    enabled: row.enabled === 1 || row.enabled === true,
    disabledReason: row.disabled_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** An open (or closing) digest window, as both stores read it. */
export interface DigestRow {
  tenant_id: string;
  id: string;
  workflow: string;
  subscriber_id: string;
  digest_key: string;
  opened_at: number;
  closes_at: number;
}

/** The columns a mark-all answers (MarkedItem), for `RETURNING`. */
export const MARKED_ITEM_COLUMNS =
  'tenant_id, id, event_id, subscriber_id, channel, workflow, status, read_at';

export function toMarkedItem(
  row: Pick<
    MessageRow,
    'tenant_id' | 'id' | 'event_id' | 'subscriber_id' | 'channel' | 'workflow' | 'status' | 'read_at'
  >,
): MarkedItem {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    eventId: row.event_id,
    subscriberId: row.subscriber_id,
    channel: row.channel as Channel,
    workflow: row.workflow,
    status: row.status as MessageStatus,
    readAt: row.read_at,
  };
}
