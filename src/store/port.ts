import type { TenantCaps } from '../policy/lanes.ts';
import type { RateAnswer, RateCounterRef, RateTake } from '../policy/rate-limit.ts';
import type { PersonalData } from '../security/personal-data.ts';
import type {
  Channel,
  CircuitState,
  ConsentSource,
  DevicePlatform,
  DeviceReason,
  DeviceRecord,
  EventInput,
  EventRecord,
  IntegrationRecord,
  Lane,
  LayoutRecord,
  MessageMeta,
  MessageReason,
  MessageRecord,
  MessageStatus,
  PreferenceChoices,
  QuietHours,
  SandboxCapture,
  SkippedStep,
  SubscriberPatch,
  SubscriberRecord,
  SuppressionReason,
  SuppressionRecord,
  TenantSettings,
  TimelineEntry,
  WebPushSubscription,
  WorkflowDefinition,
  WorkflowRecord,
  WorkflowVersionRecord,
} from '../shared/model.ts';
import type { StoreCapabilities } from './capabilities.ts';

/** A job to be queued. `runAt` defaults to now. */
export interface JobSpec {
  tenantId: string;
  kind: string;
  lane: Lane;
  payload: unknown;
  partitionKey?: string | null;
  runAt?: number;
  /** Default DEFAULT_JOB_MAX_ATTEMPTS. */
  maxAttempts?: number;
}

export const DEFAULT_JOB_MAX_ATTEMPTS = 8;

/** A job as claimed by a worker. `attempts` counts this run. */
export interface Job {
  id: number;
  tenantId: string;
  kind: string;
  lane: Lane;
  partitionKey: string | null;
  payload: unknown;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  createdAt: number;
}

/** One lane's backlog as /metrics shows it (tidings_queue_depth, tidings_queue_lag_seconds). */
export interface QueueStats {
  lane: Lane;
  due: number;
  oldestRunAt: number | null;
}

export interface DeadJob extends Job {
  lastError: string | null;
}

export interface ClaimRequest {
  owner: string;
  now: number;
  leaseMs: number;
  /**
   * How many jobs to take from each lane, asked for in this order; with `caps`, at most so many
   * from each tenant (policy/lanes.ts tenantCaps: `byTenant`, else `fresh`); with `total`, at
   * most so many from each tenant less what earlier lanes of this claim gave it (policy/lanes.ts
   * workerCaps: a bound on its jobs of every lane together).
   */
  quotas: { lane: Lane; limit: number; caps?: TenantCaps; total?: TenantCaps }[];
}

/** The durable job table (see src/queue for the behaviour built on it). */
export interface JobStore {
  enqueueJobs(specs: JobSpec[]): Promise<void>;
  /** Leases ready jobs: at most one per partition key, never one whose partition is already leased. */
  claimJobs(request: ClaimRequest): Promise<Job[]>;
  /**
   * Deletes finished jobs (only while `owner` holds them) and queues their follow-ups, atomically;
   * `parts` change their events' open parts in the same transaction, each only if `owner` still
   * held its job (a job run again elsewhere counts its own part there).
   */
  completeJobs(owner: string, ids: number[], followUps?: JobSpec[], parts?: OpenPartsChange[]): Promise<void>;
  /**
   * Makes a held job ready again at `runAt`. With `refundAttempt`, the attempt just made does not
   * count towards `maxAttempts` (it failed because the store itself could not be reached).
   */
  retryJob(
    owner: string,
    id: number,
    runAt: number,
    error: string,
    options?: { refundAttempt?: boolean },
  ): Promise<void>;
  deadJob(owner: string, id: number, error: string): Promise<void>;
  extendLeases(owner: string, ids: number[], until: number): Promise<void>;
  /** Returns expired leases to the ready state; answers how many. */
  releaseExpiredLeases(now: number): Promise<number>;
  /**
   * Returns the jobs `owner` holds to the ready state, except `keep`; answers how many. With
   * `refundAttempt`, their claim no longer counts as an attempt: they are given back unfinished by
   * a worker that stops (or never knew it held them), not failed — a process that crashed keeps
   * the count, so a job that kills it still runs out of attempts.
   */
  releaseLeasesOf(owner: string, keep?: number[], options?: { refundAttempt?: boolean }): Promise<number>;
  leaseOwners(): Promise<string[]>;
  /** Earliest `run_at` of a ready job, or null when none is waiting. */
  nextRunAt(): Promise<number | null>;
  countJobs(): Promise<{ ready: number; leased: number; dead: number }>;
  /**
   * Per lane, the ready jobs due by `now` — at most `cap` of them counted, so a scrape reads a
   * bounded number of index entries whatever the backlog — and the oldest due `run_at` among
   * those counted (null when none is due).
   */
  queueStats(now: number, cap: number): Promise<QueueStats[]>;
  listDeadJobs(limit: number): Promise<DeadJob[]>;
  /**
   * The jobs that used up their attempts (state `dead`, until retention removes them), by kind:
   * at most `cap` of them counted, so a scrape reads a bounded number of index entries. A dead
   * send's message is in the dead letters; a dead fanout, delivery, digest or fallback is seen
   * only here and in the log.
   */
  deadJobsByKind(cap: number): Promise<{ kind: string; dead: number }[]>;
  /**
   * Housekeeping for stores whose deleted rows linger until vacuumed (PostgreSQL): removes the
   * queue's dead row versions when they pile up. Answers whether it did any work. Safe to call
   * from every process: one at a time does the work, the others return at once.
   */
  maintainJobs?(): Promise<boolean>;
}

/** A key to add: only its SHA-256 is kept; `prefix` (e.g. `tdk_AbCd`) is what lists show of it. */
export interface NewApiKey {
  /** The key's public id (`key_…`); the store makes one when absent. */
  id?: string;
  tenantId: string;
  hash: string;
  prefix: string;
  label: string;
}

/** A stored key as lists show it: never the secret nor its hash. */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  prefix: string;
  label: string;
  createdAt: number;
}

export interface TenantRecord {
  id: string;
  name: string;
  createdAt: number;
}

export interface TenantStore {
  /** Stores `value` under `key` unless one is there already; answers the value that won. */
  settingOnce(key: string, value: string): Promise<string>;
  getSetting(key: string): Promise<string | null>;
  /**
   * Sets `key` to `value` (null removes it) only while it still holds `expected`; answers
   * whether it did. Processes starting at once each try; one wins, the others see its value.
   */
  replaceSetting(key: string, expected: string, value: string | null): Promise<boolean>;
  ensureTenant(id: string, name: string): Promise<void>;
  tenantExists(id: string): Promise<boolean>;
  /** Tenants in id order, after `after` (a tenant id, exclusive), at most `limit`. */
  listTenants(after: string | null, limit: number): Promise<TenantRecord[]>;
  /**
   * Adds a key and answers its id; with `replaceLabel`, first removes the tenant's keys that
   * carry that label.
   */
  addApiKey(key: NewApiKey, replaceLabel?: boolean): Promise<string>;
  /**
   * Adds the key only if the tenant has none with its label yet; answers whether it did. Safe
   * when several processes seed at once: exactly one of them adds a key.
   */
  addFirstApiKey(key: NewApiKey): Promise<boolean>;
  tenantForKeyHash(hash: string): Promise<string | null>;
  countApiKeys(tenantId: string, label: string): Promise<number>;
  /** One tenant's keys (or every tenant's, with null), oldest first. */
  listApiKeys(tenantId: string | null): Promise<ApiKeyRecord[]>;
  /**
   * Removes a key by id (only within `tenantId` when one is given); answers whether one was
   * removed. Its hash is gone, so it stops authenticating (after the auth cache's TTL elsewhere).
   */
  revokeApiKey(keyId: string, tenantId: string | null): Promise<boolean>;
}

/** One event to accept, already validated. */
export interface AcceptEvent {
  tenantId: string;
  id: string;
  input: EventInput;
  idempotencyKey: string | null;
  /** Hash of the canonical payload; only needed (and computed) when there is an idempotency key. */
  payloadHash: string | null;
  now: number;
  /** Subscribers written inline in `to`, upserted with the event. */
  inlineSubscribers: ({ id: string } & SubscriberPatch)[];
  /** Plain subscriber ids in `to`: unknown ones are created empty with the event (so in-app works at once). */
  subscriberIds: string[];
  /**
   * The first job, committed with the event. Its lane is the event's priority, else the
   * workflow's, else normal — resolved in the transaction, so an MFA workflow is critical by default.
   * Accepted events of one call whose first jobs share tenant, kind, lane and run time are queued
   * together, up to {@link EVENTS_PER_FIRST_JOB} per job, with the payload `{ eventIds }` in accept
   * order: a bulk request costs the queue one row per hundred events, not one per event.
   * `runAt` null means as soon as accepted: such events group together whatever millisecond each
   * was accepted in (a bulk request's events span several).
   */
  job: { kind: string; runAt: number | null };
}

/** Most events one first job names (see AcceptEvent.job). */
export const EVENTS_PER_FIRST_JOB = 100;

export type AcceptResult =
  /** A new event, and the lane its first job went to (whom the workers' wake-up concerns). */
  | { ok: true; eventId: string; duplicate: false; lane: Lane }
  /** An idempotency key's repeat: answered with the first event, nothing queued. */
  | { ok: true; eventId: string; duplicate: true }
  | { ok: false; code: 'workflow_not_found' | 'idempotency_key_reused'; eventId?: string };

/** The first answer to a bulk request made with an `Idempotency-Key` header. */
export interface BulkResponse {
  tenantId: string;
  key: string;
  /** Hash of the request body: a repeat with another body under the key is refused (409). */
  bodyHash: string;
  /** The answer's body, an object (PostgreSQL keeps it as JSON text, so a replay keeps its key order). */
  response: object;
  createdAt: number;
}

export interface EventStore {
  /** Stores each event with its first job in one transaction, honouring idempotency keys (24 h). */
  acceptEvents(events: AcceptEvent[], idempotencyWindowMs: number): Promise<AcceptResult[]>;
  getEvent(tenantId: string, id: string): Promise<EventRecord | null>;
  /** Loads many events at once (a worker's batch); answers those that exist, in no particular order. */
  getEvents(refs: { tenantId: string; id: string }[]): Promise<EventRecord[]>;
  /** Which of the tenant's events `ids` are cancelled (a send's last check; nothing else is read). */
  cancelledEvents(tenantId: string, ids: readonly string[]): Promise<string[]>;
  /**
   * Deletes up to `limit` idempotency keys stored before `before` (they no longer answer
   * anything); answers how many. Without it the key table grows by one row per keyed event forever.
   */
  purgeIdempotencyKeys(before: number, limit: number): Promise<number>;
  /** Which of `keys` are topics of the tenant (one read, whatever the number of keys). */
  knownTopics(tenantId: string, keys: string[]): Promise<string[]>;
  /** The bulk response stored under (tenant, key) after `notBefore`, or null. */
  getBulkResponse(tenantId: string, key: string, notBefore: number): Promise<BulkResponse | null>;
  /**
   * Stores `response` unless a live one (stored within `windowMs` of `response.createdAt`) holds
   * the key already; answers the one that holds it afterwards, so concurrent duplicates agree.
   */
  saveBulkResponse(response: BulkResponse, windowMs: number): Promise<BulkResponse>;
  /** Deletes up to `limit` bulk responses stored before `before`; answers how many. */
  purgeBulkResponses(before: number, limit: number): Promise<number>;
  /** Marks the event cancelled and its not-yet-sent messages too; answers how many messages were stopped. */
  cancelEvent(tenantId: string, id: string, now: number): Promise<number>;
  /**
   * Cancels every event of the tenant stored with this `cancellationKey`, and their not-yet-sent
   * messages (each with a timeline entry naming the key), found through an index; each event is
   * cancelled in one transaction with its messages (SQLite: a page of events a transaction, the
   * event loop given back between, so a large campaign does not hold every other request). Answers
   * how many events this call cancelled (ones cancelled before are not counted again) and how many
   * messages it stopped. Events stored after the call began are not touched.
   */
  cancelEventsByKey(tenantId: string, key: string, now: number): Promise<CancelledByKey>;
}

export interface CancelledByKey {
  events: number;
  messages: number;
}

export interface SubscriberStore {
  upsertSubscriber(
    tenantId: string,
    id: string,
    patch: SubscriberPatch,
    now: number,
  ): Promise<SubscriberRecord>;
  getSubscriber(tenantId: string, id: string): Promise<SubscriberRecord | null>;
  /** Loads the subscribers that exist among `ids`, in no particular order. */
  getSubscribers(tenantId: string, ids: string[]): Promise<SubscriberRecord[]>;
  /** Loads many subscribers, creating the unknown ones empty. */
  loadOrCreateSubscribers(tenantId: string, ids: string[], now: number): Promise<SubscriberRecord[]>;
  upsertTopic(
    tenantId: string,
    key: string,
    name: string | null,
    now: number,
  ): Promise<{ key: string; name: string | null; createdAt: number }>;
  getTopic(
    tenantId: string,
    key: string,
  ): Promise<{ key: string; name: string | null; createdAt: number } | null>;
  /**
   * Adds the subscribers (creating unknown ids empty); answers how many memberships are new: an id
   * already a member, or named twice, is added once. Answers null, writing nothing, when there is
   * no such topic: a caller adding in several calls learns the topic was deleted meanwhile
   * instead of leaving members of a topic that is gone (a later PUT would bring them back).
   */
  addTopicMembers(
    tenantId: string,
    key: string,
    subscriberIds: string[],
    now: number,
  ): Promise<number | null>;
  removeTopicMember(tenantId: string, key: string, subscriberId: string): Promise<boolean>;
  /** One page of a topic's members, ordered by subscriber id, after `afterId`. */
  topicMembersPage(tenantId: string, key: string, afterId: string | null, limit: number): Promise<string[]>;
  countTopicMembers(tenantId: string, key: string): Promise<number>;
}

/**
 * What a page of a list whose rows may each be as large as a request body answers (a message's
 * content and data, a workflow's definition): up to `limit` rows, fewer once the next would take
 * their JSON past `maxBytes` (never none while any remain), and whether rows remain after them.
 * The stores read such a page a row at a time and stop there, so its rows hold about maxBytes at
 * most, or its one row, whatever order small and large rows come in: a read sized from the rows
 * read so far was fooled by a few small rows before large ones into reading 72 MB at once.
 */
export interface SizedPage<T> {
  rows: T[];
  /** Rows remain after these: the next page starts after the last of them. */
  more: boolean;
}

/** The size a SizedPage stops at: about this many characters of its rows' JSON columns. */
export interface SizeBound {
  maxBytes: number;
}

/** Messages of one A/B variant in one status. */
export interface VariantCount {
  variant: string;
  status: MessageRecord['status'];
  count: number;
}

export interface WorkflowStore {
  /**
   * Saves `definition` as the workflow's next version (1 for a new workflow), kept immutable
   * among its versions, and makes it the current one; answers the current workflow.
   */
  putWorkflow(
    tenantId: string,
    key: string,
    definition: WorkflowDefinition,
    now: number,
  ): Promise<WorkflowRecord>;
  getWorkflow(tenantId: string, key: string): Promise<WorkflowRecord | null>;
  /** The tenant's workflows in key order: all of them, or `page.limit` after `page.after`. */
  listWorkflows(tenantId: string, page?: { after: string | null; limit: number }): Promise<WorkflowRecord[]>;
  /** One saved version of a workflow, or null when it has no such version. */
  getWorkflowVersion(tenantId: string, key: string, version: number): Promise<WorkflowVersionRecord | null>;
  /**
   * Saved versions of a workflow, newest first (empty when there is no such workflow): all of
   * them, or `page.limit` of those below version `page.before` (null: from the newest).
   */
  listWorkflowVersions(
    tenantId: string,
    key: string,
    page?: { before: number | null; limit: number },
  ): Promise<WorkflowVersionRecord[]>;
  /** A SizedPage of listWorkflows' `page` (its definitions sized). */
  pageWorkflows(
    tenantId: string,
    page: { after: string | null; limit: number } & SizeBound,
  ): Promise<SizedPage<WorkflowRecord>>;
  /** A SizedPage of listWorkflowVersions' `page` (its definitions sized). */
  pageWorkflowVersions(
    tenantId: string,
    key: string,
    page: { before: number | null; limit: number } & SizeBound,
  ): Promise<SizedPage<WorkflowVersionRecord>>;
  /** Saves a layout's next version (1 for a new one) and answers it. */
  putLayout(
    tenantId: string,
    key: string,
    layout: Pick<LayoutRecord, 'kind' | 'source' | 'html'>,
    now: number,
  ): Promise<LayoutRecord>;
  /**
   * The version of a layout an event accepted at `acceptedAt` uses: the newest created at or
   * before it (the one current then), else the oldest (the layout was created after the event);
   * null when there is no such layout. One row is read, however many versions it has.
   */
  layoutAt(tenantId: string, key: string, acceptedAt: number): Promise<LayoutRecord | null>;
  /** Whether a layout exists (reads no version). */
  hasLayout(tenantId: string, key: string): Promise<boolean>;
  /**
   * Counts the renders of version `version` of a workflow that ran past their time budget, in a
   * row: `afterSuccess` (one of its renders succeeded before these `timeouts`) starts the count
   * again. When the count reaches `pauseAt` the workflow is paused with `reason` (a PUT clears
   * both). Answers the workflow as it stands, or null when it is gone or has a newer version (a
   * new definition starts clean).
   */
  countRenderTimeouts(
    tenantId: string,
    key: string,
    version: number,
    outcome: { timeouts: number; afterSuccess: boolean },
    pause: { at: number; reason: string },
  ): Promise<WorkflowRecord | null>;
}

export interface IntegrationStore {
  /** `perSecond` left out = no limit. */
  putIntegration(
    record: Omit<IntegrationRecord, 'createdAt' | 'updatedAt' | 'perSecond'> & { perSecond?: number | null },
    now: number,
  ): Promise<IntegrationRecord>;
  getIntegration(tenantId: string, id: string): Promise<IntegrationRecord | null>;
  /** All of a tenant's integrations (for one channel when given), lowest priority number first. */
  listIntegrations(tenantId: string, channel?: Channel): Promise<IntegrationRecord[]>;
  /** Every tenant's sealed integration credentials (checked and re-sealed at start-up). */
  listSealedCredentials(): Promise<SealedCredentials[]>;
  /**
   * Replaces sealed credentials where they still hold `from` (a PUT since the listing wins);
   * leaves `updatedAt` alone, as the credentials themselves did not change. Answers how many.
   */
  resealCredentials(changes: readonly ResealedCredentials[]): Promise<number>;
}

/**
 * A circuit breaker's state as its worker last published it (src/providers/circuits.ts): written
 * on transitions only, read by `GET /v1/integrations` and /metrics, which may run in another
 * thread or process than the workers.
 */
export interface CircuitRecord {
  tenantId: string;
  integrationId: string;
  state: CircuitState;
  failures: number;
  openedAt: number | null;
  /** When the transition happened: an older one arriving late never overwrites a newer one. */
  updatedAt: number;
}

export interface CircuitStore {
  putCircuit(record: CircuitRecord): Promise<void>;
  /** A tenant's published circuits, or every tenant's (null, for metrics). */
  listCircuits(tenantId: string | null): Promise<CircuitRecord[]>;
}

export interface SealedCredentials {
  tenantId: string;
  integrationId: string;
  sealed: string;
}

export interface ResealedCredentials {
  tenantId: string;
  integrationId: string;
  from: string;
  to: string;
}

/** A message to create; `followUp` (and `events`) are queued only if the message is new. */
export interface NewMessage {
  record: MessageRecord;
  followUp: JobSpec | null;
  /** Outbound status webhook jobs for the status it is created with (src/webhooks/emit.ts). */
  events?: JobSpec[];
  /**
   * The `createdAt` of the subscriber the message was built for, as read then: the message is
   * written only while that subscriber still exists (not erased since, nor erased and created
   * anew under the same id), checked in the write's own transaction.
   */
  subscriberCreatedAt?: number;
  /**
   * Set on a message its write delivers (an in-app item): its tenant's choices version
   * (choicesVersions) read before the build read the recipients' choices. The write is refused
   * whole with ConsentChangedSinceRead (src/store/consent-guard.ts) when the version has moved
   * since: a PATCH that answered meanwhile may have opted the recipient out.
   */
  choicesVersion?: number;
}

export interface MessageUpdate {
  status: MessageStatus;
  provider?: string | null;
  lastError?: string | null;
  /** Replaces the message's reason code (undefined keeps it; null clears it). */
  reason?: MessageReason | null;
  /** The provider's id for the message (undefined keeps the stored one). */
  providerMessageId?: string;
  /** Merged into the stored meta, key by key (a provider's segments, collapseId…). */
  meta?: MessageMeta;
  append: TimelineEntry[];
  now: number;
  /**
   * Applied only while the message is in one of these statuses (otherwise nothing changes and the
   * update answers false): a send's records before its provider call, so that a cancel that came
   * first is never overwritten and the message is not sent.
   */
  onlyFrom?: readonly MessageStatus[];
  /** Queued in the same transaction (a replay's new send job). */
  followUp?: JobSpec;
  /** Outbound status webhook jobs for this status change, queued in the same transaction. */
  events?: JobSpec[];
  /**
   * Jobs completed in the same transaction (those `owner` still holds), whether or not the
   * message is still there: a send's outcome and its job's end commit together.
   */
  ack?: Omit<MessageAck, 'followUps' | 'parts'>;
}

/** One message's update, for {@link MessageStore.updateMessages}. */
export interface MessageUpdateOf {
  tenantId: string;
  id: string;
  update: MessageUpdate;
}

export interface ReceiptWrite {
  tenantId: string;
  id: string;
  /** Only this subscriber's message (a subscriber token); null for a server key. */
  subscriberId: string | null;
  receipt: 'delivered' | 'read' | 'clicked';
  /** The statuses the receipt moves forward from (receiptMovesFrom). */
  from: MessageStatus[];
  entry: TimelineEntry;
  now: number;
  followUp?: JobSpec;
}

/** A message as an event's view lists it (MessageStore.listEventMessages). */
export type EventMessageSummary = Pick<
  MessageRecord,
  'id' | 'subscriberId' | 'channel' | 'status' | 'reason' | 'provider' | 'escalated' | 'timeline'
>;

export interface MessageFilter {
  tenantId: string;
  subscriberId?: string;
  eventId?: string;
  channel?: Channel;
  status?: MessageStatus;
  /** Only messages whose id sorts before this one (newest first paging). */
  beforeId?: string;
  limit: number;
}

/** A message held by quiet hours, as a change of them releases it (src/pipeline/release-deferred.ts). */
export type DeferredMessage = Pick<MessageRecord, 'tenantId' | 'id' | 'subscriberId' | 'channel'> & {
  lane: Lane;
};

/** What `tidings tail` asks for: a tenant's recent messages that changed (MessageStore.messageChanges). */
export interface MessageChangeQuery {
  tenantId: string;
  /** Only messages created at or after this (epoch ms): the range of ids read. */
  createdFrom: number;
  /** Only messages whose `updatedAt` is at or after this. */
  changedFrom: number;
  workflow?: string;
  limit: number;
}

/** A message as `tidings tail` shows its status changes: no content, data or meta. */
export type MessageChange = Pick<
  MessageRecord,
  | 'tenantId'
  | 'id'
  | 'eventId'
  | 'subscriberId'
  | 'channel'
  | 'workflow'
  | 'status'
  | 'reason'
  | 'lastError'
  | 'timeline'
  | 'createdAt'
  | 'updatedAt'
>;

export interface InboxPage {
  tenantId: string;
  subscriberId: string;
  /** Cursor position: items strictly older than (eventAt, id). */
  before: { eventAt: number; id: string } | null;
  limit: number;
  archived: boolean;
  /** `unread` / `read` only; absent or `all`: both. */
  status?: 'unread' | 'read' | 'all';
  /** Only items whose workflow's category is one of these (a `?category=` or a tab's categories). */
  categories?: readonly string[];
}

/**
 * How many timeline entries a message may hold for an inbox action to add one that moves no
 * status: a second click, a read after "unread", a snooze. An action that moves the status
 * (delivered → read → clicked) or archives the item (once) always adds its entry. A subscriber
 * token could otherwise grow one message's timeline without end — a click a request — and every
 * read of the message (its view, the inbox, its streams) with it.
 */
export const INBOX_TIMELINE_ROOM = 100;

/** What a subscriber did to one inbox item (API.md "Inbox"); `read`, `archive` and `click` are receipts. */
export type InboxMark = 'read' | 'archive' | 'seen' | 'unread' | 'click';

/** One entry of a subscriber's inbox change log: what resumable streams replay (`seq` is the event id). */
export interface InboxChangeRecord {
  seq: number;
  type: 'item.created' | 'item.updated' | 'inbox.read-all' | 'inbox.seen-all';
  itemId: string | null;
  createdAt: number;
}

/** Where one open stream stands in its subscriber's change log (see InboxStore.catchUpInboxes). */
export interface InboxCursor {
  subscriberId: string;
  afterSeq: number;
}

/** What one stream has to send next: its changes with their items, and the unread count now. */
export interface InboxCatchUp {
  /** Oldest first; `item` is the change's item as it is now (null: none, or gone since). */
  changes: { change: InboxChangeRecord; item: MessageRecord | null }[];
  unreadCount: number;
}

/**
 * The subscriber-facing inbox. Every change to what a subscriber's inbox shows (a new item, read
 * state, archive, snooze, a read-all) appends to that subscriber's change log in the same
 * transaction, numbered 1, 2, 3… per subscriber in commit order (writers of one subscriber queue
 * on its counter row), so a stream that has seen change n and reads the log after n never skips
 * one that commits later.
 */
/** An inbox item a mark-all changed: what a `message.read` event names, and its state now. */
export type MarkedItem = Pick<
  MessageRecord,
  'tenantId' | 'id' | 'eventId' | 'subscriberId' | 'channel' | 'workflow' | 'status' | 'readAt'
>;

export interface InboxStore {
  /** Unsnoozed inbox items, newest first by event time (`page` filters). */
  listInbox(page: InboxPage): Promise<MessageRecord[]>;
  /** A SizedPage of listInbox's `page` (its items' content, data, meta and timeline sized). */
  pageInbox(page: InboxPage & SizeBound): Promise<SizedPage<MessageRecord>>;
  countUnread(tenantId: string, subscriberId: string): Promise<number>;
  /** Unread items per workflow category (`null`: workflows without one, or deleted ones). */
  countUnreadByCategory(tenantId: string, subscriberId: string): Promise<Map<string | null, number>>;
  /**
   * Marks one inbox item; answers the updated item, or null if it is not this subscriber's.
   * `click` also reads it and moves its status to `clicked`, with `detail` in the timeline.
   */
  markInbox(
    tenantId: string,
    subscriberId: string,
    id: string,
    mark: InboxMark,
    now: number,
    detail?: string,
  ): Promise<MessageRecord | null>;
  /**
   * Marks every item the mark changes (read-all: unread and unarchived; seen-all: unseen), all
   * unsnoozed; answers those items as they are now, as much of each as endpoints are told of, so a
   * read-all can tell endpoints of each message it moved to `read` (API.md: reads count as
   * receipts). Not their content: an inbox may hold thousands of unread items.
   */
  markAllInbox(
    tenantId: string,
    subscriberId: string,
    mark: 'read' | 'seen',
    now: number,
  ): Promise<MarkedItem[]>;
  /**
   * Hides the item until `until` and, in the same transaction, queues `wake` (its job, due then),
   * or moves the item's wake job still waiting from an earlier snooze to `wake`'s time and payload
   * (its attempts start again): at most one waiting wake job per item however often it is snoozed,
   * which a subscriber could otherwise grow without bound. One already running is left to finish
   * (it finds its snooze gone) beside a new one. Answers the item, or null if it is not this
   * subscriber's.
   */
  snoozeInbox(
    tenantId: string,
    subscriberId: string,
    id: string,
    until: number,
    wake: JobSpec,
    now: number,
  ): Promise<MessageRecord | null>;
  /**
   * Brings back an item snoozed until exactly `until` (a later snooze wins: its wake does it),
   * unread and unseen, logged as `item.created`; answers it, or null when there was nothing to wake.
   */
  wakeSnoozed(tenantId: string, id: string, until: number, now: number): Promise<MessageRecord | null>;
  /**
   * For each cursor (subscribers of one tenant; the same subscriber may come twice), in the same
   * order: its changes after `afterSeq`, at most `limit`, with their items, and the subscriber's
   * unread count — for all of them in a few statements. A broadcast wakes every open stream at
   * once; read one by one that was three reads per stream (10,000 streams: 30,000 reads). The
   * pages and counts are read in one snapshot: a page shorter than `limit` ends the log, and its
   * count is the count as of its last change (of `afterSeq` when empty).
   */
  catchUpInboxes(tenantId: string, cursors: readonly InboxCursor[], limit: number): Promise<InboxCatchUp[]>;
  /** The number of the subscriber's latest change; 0 before the first. */
  lastInboxChange(tenantId: string, subscriberId: string): Promise<number>;
  /**
   * The number of the subscriber's oldest change still logged, or null when none is (none yet,
   * or all purged): a stream resuming from before it cannot be replayed what it missed.
   */
  firstInboxChange(tenantId: string, subscriberId: string): Promise<number | null>;
  /** Deletes up to `limit` changes logged before `before`; answers how many. */
  purgeInboxChanges(before: number, limit: number): Promise<number>;
}

/** One subscriber with a live inbox stream somewhere. */
export interface PresenceKey {
  tenantId: string;
  subscriberId: string;
}

/**
 * Who has a live inbox connection (SSE or WebSocket) in any process, for `skipIfOnline`. Each
 * process holds one row per subscriber it serves, under its own `holder` name, and extends all of
 * them at once on a heartbeat; a process that dies stops extending, and its rows expire.
 */
export interface PresenceStore {
  /** Holds (or extends) `keys` for `holder` until `expiresAt`. */
  holdPresence(holder: string, keys: readonly PresenceKey[], expiresAt: number): Promise<void>;
  /**
   * Extends every row of `holder` to `expiresAt`: only rows that exist, so a row an erasure
   * deleted (beginErasure) stays gone though a stream of that subscriber is still open.
   */
  refreshPresence(holder: string, expiresAt: number): Promise<void>;
  /** Drops `keys` (all of the holder's when null). */
  releasePresence(holder: string, keys: readonly PresenceKey[] | null): Promise<void>;
  /** Whether any holder's unexpired row names the subscriber. */
  isOnline(tenantId: string, subscriberId: string, now: number): Promise<boolean>;
  /** Deletes up to `limit` rows expired before `before`; answers how many. */
  purgePresence(before: number, limit: number): Promise<number>;
}

/** The jobs a delivery write completes, and the jobs it queues once they are completed. */
export interface MessageAck {
  owner: string;
  jobIds: number[];
  /** Queued only if this owner still held at least one of `jobIds` (a lost lease reruns elsewhere). */
  followUps?: JobSpec[];
  /** Each applied only if this owner still held its job (see JobStore.completeJobs). */
  parts?: OpenPartsChange[];
}

/**
 * A change to an event's count of open parts (EventRecord.openParts), written by the transaction
 * that completes the jobs it counts: `by` is the parts those jobs queued for the event less the
 * parts they were. Changes of one event in one write add up.
 */
export interface OpenPartsChange {
  /** The job whose part this is: the change is made only if that job was completed here. */
  jobId: number;
  tenantId: string;
  eventId: string;
  by: number;
}

/**
 * One event joining a recipient's digest (API.md "Workflows"): the open digest of (tenant,
 * workflow, subscriber, key) if there is one, else a new one — `digestId`, open from `now` to
 * `now + windowMs` — whose close job (`job`, payload {@link DigestJobPayload}, due at the close)
 * is queued by the same transaction. So exactly one close job exists per window, however many
 * writers race to open it.
 */
export interface DigestJoin {
  tenantId: string;
  workflow: string;
  subscriberId: string;
  /**
   * The rendered key as stored: its keyed hash (storedDigestKey), '' when the workflow's digest
   * has none or it renders empty.
   */
  key: string;
  eventId: string;
  /** Used only if this join opens the window. */
  digestId: string;
  now: number;
  windowMs: number;
  job: { kind: string; lane: Lane };
  /** Recorded as skipped steps of the event (reason digestJoinReason of the window's close). */
  steps: { step: number; channel: Channel }[];
}

/** The payload of a digest's close job; `steps`: only these (a close deferred part-way). */
export interface DigestJobPayload {
  digestId: string;
  steps?: number[];
}

/** A digest at its close, with the events it gathered, in the order they joined. */
export interface ClosedDigest {
  tenantId: string;
  id: string;
  workflow: string;
  subscriberId: string;
  key: string;
  openedAt: number;
  closesAt: number;
  eventIds: string[];
}

/** What a delivery write does to digests, beside its messages. */
export interface DigestWrites {
  /**
   * Made only when the write's `ack` still holds one of its jobs (or it has none): a delivery
   * run again after a lost lease joins nothing twice, even after the first window closed.
   */
  joins?: DigestJoin[];
  /** Digests whose messages this write creates: they are deleted with their events. */
  finished?: { tenantId: string; id: string }[];
}

export interface DigestStore {
  /**
   * Closes the digest — events from now on open a new window — and answers it with its events;
   * null when it is gone (its messages were written). Closing again answers the same. Every join
   * that reached this digest committed before this answers: none is lost.
   */
  closeDigest(tenantId: string, id: string): Promise<ClosedDigest | null>;
}

export interface MessageStore {
  /**
   * Creates messages, skipping any (event, subscriber, channel, device) that already has one, queues
   * the follow-ups of those created, records `skipped` steps (once per event, subscriber and step),
   * makes the `digests` writes and completes `ack` jobs — all in one transaction. Answers the ids created.
   * `inboxSeqs`, when given, receives the change-log number of each new inbox item, by message id
   * (open streams send the item without reading the log back: inbox/session.ts).
   *
   * What a delivery read may have changed before this write, checked in it: a message of an event
   * cancelled by then is not written (nor is one whose recipient was erased:
   * NewMessage.subscriberCreatedAt). A message not cancelled for `workflow_paused` says its
   * workflow was read live; if that workflow (by tenant and key) is paused by then — its definition's
   * `paused` or a pausedReason — the write is refused whole with WorkflowPausedSinceRead
   * (src/store/workflow-pause.ts): nothing of it is made, no job completed, for the delivery to be
   * built again. Likewise when a message carries a choicesVersion its tenant has moved past
   * (ConsentChangedSinceRead). PostgreSQL reads all of these without locking, as of its write
   * statement's start.
   */
  createMessages(
    messages: NewMessage[],
    ack?: MessageAck,
    skipped?: SkippedStep[],
    digests?: DigestWrites,
    inboxSeqs?: Map<string, number>,
  ): Promise<string[]>;
  /** How many of a workflow's messages each A/B variant has in each status (messages without a variant are not counted). */
  variantCounts(tenantId: string, workflow: string): Promise<VariantCount[]>;
  /** An event's skipped steps, by subscriber then step; at most `limit`. */
  listSkippedSteps(tenantId: string, eventId: string, limit: number): Promise<SkippedStep[]>;
  getMessage(tenantId: string, id: string): Promise<MessageRecord | null>;
  /**
   * The tenant's messages of `ids`, in any order; ids with no message are left out (one read for
   * a batch of sends instead of one per message).
   */
  getMessages(tenantId: string, ids: readonly string[]): Promise<MessageRecord[]>;
  listMessages(filter: MessageFilter): Promise<MessageRecord[]>;
  /** A SizedPage of listMessages' `filter` (its messages' content, data, meta and timeline sized). */
  pageMessages(filter: MessageFilter & SizeBound): Promise<SizedPage<MessageRecord>>;
  /**
   * A page of an event's messages, newest first (before `beforeId` when given), with only what the
   * event's view shows: no content, data or meta is read or parsed (an event to a large topic
   * lists thousands, each holding its own copy of the event's data).
   */
  listEventMessages(
    tenantId: string,
    eventId: string,
    page: { beforeId?: string; limit: number },
  ): Promise<EventMessageSummary[]>;
  /**
   * The tenant's messages created from `createdFrom` on that changed from `changedFrom` on,
   * oldest change first (then by id), at most `limit`. Read through the primary key's range of
   * ids (ids sort by creation time), so it costs the messages of that window, however big the
   * table; there is no index on `updated_at`.
   */
  messageChanges(query: MessageChangeQuery): Promise<MessageChange[]>;
  /**
   * The subscriber's messages created from `createdFrom` on that wait in `deferred` (quiet
   * hours), oldest first, at most `limit`, each with the lane of its event (its send jobs'
   * lane): read through the subscriber's range of ids, so older messages cost nothing.
   */
  deferredMessages(
    tenantId: string,
    subscriberId: string,
    createdFrom: number,
    limit: number,
  ): Promise<DeferredMessage[]>;
  /** Applies a status change and appends to the timeline; answers false if the message is gone. */
  updateMessage(tenantId: string, id: string, update: MessageUpdate): Promise<boolean>;
  /**
   * Applies each update as updateMessage does, in order, all in one transaction (the send path
   * records a batch of sends with one commit); answers, per update, false if its message is gone.
   */
  updateMessages(updates: readonly MessageUpdateOf[]): Promise<boolean[]>;
  /**
   * Applies `update` (with its follow-up send job) only while the message is still dead;
   * answers false otherwise, so two replays racing queue one send.
   */
  replayDeadMessage(tenantId: string, id: string, update: MessageUpdate): Promise<boolean>;
  /**
   * A receipt (src/policy/fallback.ts): moves the message's status forward to `receipt` if it is
   * in one of `from` (an in-app message read or clicked is read in the inbox too), appending a
   * timeline entry and queueing `followUp` in the same transaction. With `subscriberId`, only
   * that subscriber's message. Answers the message as it stands and whether it changed; null if
   * there is none (or it is another subscriber's).
   */
  recordReceipt(receipt: ReceiptWrite): Promise<{ message: MessageRecord; changed: boolean } | null>;
  /**
   * Marks messages `escalated` (their fallback step went out), appending `entry` to each timeline,
   * once: those marked already are left alone. Answers how many it marked.
   */
  markEscalated(tenantId: string, ids: string[], entry: TimelineEntry, now: number): Promise<number>;
  saveSandboxCapture(capture: SandboxCapture): Promise<void>;
  /** Up to `limit` captures, newest first; only those whose id sorts before `beforeId` when given. */
  listSandboxCaptures(
    tenantId: string,
    limit: number,
    channel?: Channel,
    beforeId?: string,
  ): Promise<SandboxCapture[]>;
  /** A SizedPage of listSandboxCaptures (its captures' content sized). */
  pageSandboxCaptures(
    page: { tenantId: string; limit: number; channel?: Channel; beforeId?: string } & SizeBound,
  ): Promise<SizedPage<SandboxCapture>>;
}

/** A device as a PUT gives it, already validated. */
export interface DeviceInput {
  tenantId: string;
  subscriberId: string;
  id: string;
  platform: DevicePlatform;
  /** APNs or FCM token; '' for web push. */
  token: string;
  subscription: WebPushSubscription | null;
}

export type DeviceUpsert =
  | { ok: true; device: DeviceRecord }
  /** The subscriber holds `limit` devices already and this one is new. */
  | { ok: false; code: 'device_limit'; limit: number };

/** The device a message went to, as it was sent: deactivation applies only while it still holds that token. */
export type DeviceRef = DeviceInput;

export interface DeviceStore {
  /**
   * Creates or replaces a device, active, atomically: an unknown subscriber is created empty; a
   * re-PUT of the same id reactivates it (keeping `createdAt`); the same token (or web push
   * endpoint) held by another device of the tenant — another subscriber's included — is removed
   * there first (the phone changed hands). A new device beyond `limit` per subscriber is refused.
   */
  upsertDevice(device: DeviceInput, now: number, limit: number): Promise<DeviceUpsert>;
  /** A subscriber's devices, active or not, oldest first. */
  listDevices(tenantId: string, subscriberId: string): Promise<DeviceRecord[]>;
  getDevice(tenantId: string, subscriberId: string, id: string): Promise<DeviceRecord | null>;
  /** Answers whether there was one to delete. */
  deleteDevice(tenantId: string, subscriberId: string, id: string): Promise<boolean>;
  /**
   * Deactivates the device a provider reported dead, only while it is active and still holds the
   * token (or endpoint) the message went to — a fresh token PUT meanwhile stays active. Answers
   * whether it did.
   */
  deactivateDevice(device: DeviceRef, reason: DeviceReason, at: number): Promise<boolean>;
  /**
   * The active devices of many subscribers of one tenant on `platforms`, in one read (the
   * delivery path asks once per tenant per batch), each subscriber's oldest first.
   */
  activeDevicesOf(
    tenantId: string,
    subscriberIds: string[],
    platforms: readonly DevicePlatform[],
  ): Promise<DeviceRecord[]>;
}

/** A tenant's outbound status webhook endpoint (API.md "Receipts, feedback, unsubscribe"). */
export interface WebhookEndpointRecord {
  tenantId: string;
  id: string;
  url: string;
  /** Event types it receives (`message.sent`…). */
  events: string[];
  /** The signing secrets, sealed (src/webhooks/secrets.ts): never listed, never returned. */
  sealedSecrets: string;
  enabled: boolean;
  /** Why deliveries stopped (a 410 from the receiver), while `enabled` is false. */
  disabledReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface WebhookEndpointStore {
  /**
   * Creates the endpoint with `sealedSecrets`, or updates its url and events and enables it again
   * (keeping its secrets: they are shown once, at creation). Answers it and whether it is new.
   * With `maxEndpoints`, a new one that would give the tenant more than that throws
   * WebhookEndpointLimitReached (counted and inserted atomically: racing PUTs cannot both pass).
   */
  putWebhookEndpoint(
    endpoint: Pick<WebhookEndpointRecord, 'tenantId' | 'id' | 'url' | 'events' | 'sealedSecrets'>,
    now: number,
    maxEndpoints?: number,
  ): Promise<{ endpoint: WebhookEndpointRecord; created: boolean }>;
  getWebhookEndpoint(tenantId: string, id: string): Promise<WebhookEndpointRecord | null>;
  /** A tenant's endpoints, by id. */
  listWebhookEndpoints(tenantId: string): Promise<WebhookEndpointRecord[]>;
  /** Answers whether there was one to delete. */
  deleteWebhookEndpoint(tenantId: string, id: string): Promise<boolean>;
  /**
   * Replaces the sealed secrets only while they still are `from` (two rotations racing: one
   * wins, the other sees false). Answers whether it did.
   */
  replaceWebhookSecrets(
    tenantId: string,
    id: string,
    from: string,
    to: string,
    now: number,
  ): Promise<boolean>;
  /**
   * Disables the endpoint with `reason`, only while it still points at `url` (a PUT of a new URL
   * meanwhile stays enabled). Answers whether it did.
   */
  disableWebhookEndpoint(
    tenantId: string,
    id: string,
    url: string,
    reason: string,
    now: number,
  ): Promise<boolean>;
}

/** On, off, or `null`: the choice is withdrawn (the defaults apply again). */
export type ChannelChoicesPatch = Partial<Record<Channel, boolean | null>>;

/**
 * A PATCH of a subscriber's preferences, already validated: what it names is set, `null` withdraws
 * a choice (a channel, a whole category or workflow, the quiet hours), what it leaves out is kept.
 */
export interface PreferencePatch {
  channels?: ChannelChoicesPatch;
  categories?: Record<string, ChannelChoicesPatch | null>;
  workflows?: Record<string, { enabled: boolean } | null>;
  quietHours?: QuietHours | null;
}

export interface PreferenceStore {
  /** A subscriber's own choices, or null when they made none. */
  getPreferences(tenantId: string, subscriberId: string): Promise<PreferenceChoices | null>;
  /**
   * The choices of those among `subscriberIds` who made any (one read, by primary key, whatever
   * the number of ids): the delivery path asks once per tenant per batch. Subscribers with the
   * same stored choices share one answer, frozen: read only.
   */
  getPreferencesFor(tenantId: string, subscriberIds: string[]): Promise<Map<string, PreferenceChoices>>;
  /**
   * One page of the tenant's subscribers with quiet hours, for a change of the tenant's default
   * zone (src/pipeline/release-deferred.ts): reads the next `limit` rows of choices after the
   * subscriber id `after` (null: from the first), in id order, and answers those among them that
   * hold quiet hours, each with their own `timezone` (null when they have none), and where the
   * next page starts (null after the last). A page costs `limit` rows whatever it finds.
   */
  quietHoursPage(tenantId: string, after: string | null, limit: number): Promise<QuietHoursPage>;
  /**
   * Merges `patch` into the stored choices key by key and answers the result, atomically (two
   * concurrent patches of different keys both stick). An unknown subscriber is created empty in
   * the same transaction, as a token or an event for a new id does.
   */
  patchPreferences(
    tenantId: string,
    subscriberId: string,
    patch: PreferencePatch,
    now: number,
    /** Appended to the consent log in the same transaction, when the stored choices changed. */
    consent?: ConsentNote,
    /**
     * Most categories, and most workflows, the merged choices may hold: past it nothing is written
     * and PreferenceKeysExceeded is thrown. Opt-outs by link, STOP or complaint pass none: an
     * opt-out is never refused.
     */
    maxKeys?: number,
  ): Promise<PreferenceChoices>;
}

/** What PreferenceStore.quietHoursPage answers. */
export interface QuietHoursPage {
  subscribers: { subscriberId: string; quietHours: QuietHours; timezone: string | null }[];
  /** Pass as `after` for the next page; null when this page read the last row. */
  next: string | null;
}

/** A PATCH of the tenant settings: what it names is set, the rest kept. */
export type TenantSettingsPatch = Partial<TenantSettings>;

export interface TenantSettingsStore {
  /** The tenant's settings, each at its default (DEFAULT_TENANT_SETTINGS) until set. */
  getTenantSettings(tenantId: string): Promise<TenantSettings>;
  /** Sets what `patch` names, atomically, and answers the settings as they stand. */
  patchTenantSettings(tenantId: string, patch: TenantSettingsPatch, now: number): Promise<TenantSettings>;
  /**
   * Each tenant's consent version (0 before any change): a count moved, in the changing write's
   * own transaction, by every change to preferences, suppressions, tenant settings or a
   * workflow's definition, version or pause. Two equal readings mean none of those changed
   * between them (src/pipeline/send.ts reads consent again only when they differ).
   */
  consentVersions(tenantIds: readonly string[]): Promise<Map<string, number>>;
  /**
   * Each tenant's choices version (0 before any change): the same, moved by changes to
   * preferences alone — what decides an in-app item (NewMessage.choicesVersion).
   */
  choicesVersions(tenantIds: readonly string[]): Promise<Map<string, number>>;
}

/** A notification channel between the processes sharing a store (PostgreSQL LISTEN/NOTIFY). */
export interface StoreChannel {
  /** Sends `payload` (at most 7,500 bytes) to every listening process, this one's included. */
  publish(payload: string): void;
  close(): Promise<void>;
}

/**
 * The channels Tidings uses: job wake-ups, inbox changes for the realtime streams, and key
 * revocations (src/api/key-revocations.ts).
 */
export type StoreChannelName = 'jobs' | 'inbox' | 'keys';

/**
 * A payload for a channel, sent by the commit of the write it is given to (PostgreSQL NOTIFY in
 * the transaction): the other processes hear it exactly when the write becomes visible, never
 * for a write that rolled back, and it is not lost to a failure between commit and publishing.
 * A store without channels (capabilities.crossProcessWakeups false) ignores it.
 */
export interface ChannelNotice {
  channel: StoreChannelName;
  /** At most 7,500 bytes, as StoreChannel.publish. */
  payload: string;
}

/**
 * Workflow rate-limit counters (src/policy/rate-limit.ts), correct across worker threads and
 * processes: every take is decided under the store's lock on the counters it names.
 */
export interface RateCounterStore {
  /**
   * Decides `takes` in order (grantRateTakes) against `counters` (distinct scopes) of one tenant
   * and commits the new counts, atomically, in one call: answers per take and part GRANTED or the
   * index of the counter that was full. A counter whose stored window ended before its
   * `windowEnd` starts again from zero.
   */
  takeRateCounts(tenantId: string, counters: RateCounterRef[], takes: RateTake[]): Promise<RateAnswer[]>;
  /**
   * Deletes up to `limit` counters whose window ended at or before `before`; answers how many. A
   * store may look at part of its counters per call (SQLite walks a bounded stretch and goes on
   * from there next time), so an answer below `limit` does not say none is left; an ended counter
   * is never counted either way (takeRateCounts compares windows).
   */
  purgeRateCounters(before: number, limit: number): Promise<number>;
  /**
   * Reserves a send in the first fixed window (aligned like the counters) from `now` on that has
   * fewer than `limit` reservations, atomically across processes, and answers when the send may
   * go: `now` when that is the current window, else the start of the window it got. The row holds
   * the last window with reservations and their count; once that window ended it is purged like
   * any counter.
   */
  reserveSendSlot(
    tenantId: string,
    scope: string,
    now: number,
    limit: number,
    windowMs: number,
  ): Promise<number>;
}

/**
 * A status change reported by a provider after the send (src/feedback): applied only while the
 * message's status is one of `from`, so callbacks that arrive twice, late or out of order never
 * move a message backwards. `status` null keeps the status and only appends `entry`.
 */
export interface FeedbackChange {
  status: MessageStatus | null;
  from: readonly MessageStatus[];
  /** Replaces the reason code (undefined keeps it). */
  reason?: MessageReason | null;
  lastError?: string | null;
  entry: TimelineEntry;
  now: number;
}

/** What provider callbacks read and write (src/feedback). */
export interface FeedbackStore {
  /** Every tenant's integration with this id (webhook URLs name no tenant), oldest tenant first. */
  integrationsWithId(id: string): Promise<IntegrationRecord[]>;
  /**
   * The tenant's message on `channel` the provider knows by `providerMessageId`, or null. Only
   * email and SMS providers report by their own ids, so only those channels' ids are indexed: a
   * push's id (APNs answers one per push) would be a random insert into that index per device.
   */
  messageByProviderId(
    tenantId: string,
    channel: 'email' | 'sms',
    providerMessageId: string,
  ): Promise<MessageRecord | null>;
  /** Applies `change` while the message's status is one of `change.from`; answers whether it did. */
  applyFeedback(tenantId: string, messageId: string, change: FeedbackChange): Promise<boolean>;
  /**
   * Suppresses an address on a channel unless it is already (the first reason stays); answers
   * whether it was new. A new one is logged in the consent log of `consent.subscriberIds` (those
   * that exist) in the same transaction.
   */
  suppressAddress(entry: SuppressionRecord, consent?: AddressConsent): Promise<boolean>;
  /**
   * Lifts a suppression only while it has `reason` (START lifts a STOP, never a hard bounce);
   * answers whether it did, logging it like suppressAddress.
   */
  liftSuppression(
    tenantId: string,
    channel: Channel,
    addressHash: string,
    reason: SuppressionReason,
    consent?: AddressConsent,
  ): Promise<boolean>;
  /** The suppressions of any of `addressHashes` on any channel, in one read (the delivery path asks per batch). */
  suppressionsAmong(tenantId: string, addressHashes: readonly string[]): Promise<SuppressionRecord[]>;
  /**
   * Records a soft bounce of an address (once per `ref`, the bounced message), forgets those
   * before `since`, and answers how many are left in the window.
   */
  countSoftBounce(
    tenantId: string,
    channel: Channel,
    addressHash: string,
    ref: string,
    at: number,
    since: number,
  ): Promise<number>;
  /** The ids of the tenant's subscribers with this phone number (E.164 as stored). */
  subscribersWithPhone(tenantId: string, phone: string): Promise<string[]>;
  /** Whether a provider's report with this key (its own id for it) was applied for the tenant already. */
  reportApplied(tenantId: string, key: string): Promise<boolean>;
  /**
   * Records that the report `key` was applied. Kept for good: nothing else tells a replay of a
   * report its provider signs without a time, and they are one small row per STOP or START text.
   */
  recordReport(tenantId: string, key: string, now: number): Promise<void>;
}

/** A topic as lists show it. */
export interface TopicRecord {
  key: string;
  name: string | null;
  createdAt: number;
}

/** What `deleteWorkflow` stopped: events that had sent nothing yet, and messages still waiting. */
export interface DeletedWorkflow {
  events: number;
  messages: number;
}

/**
 * Listing and removing (API.md "Listing and removing"). Lists are keyset pages in key order,
 * strictly after `after` (exclusive; null for the first page), at most `limit` long.
 */
export interface ListingStore {
  listSubscribers(tenantId: string, after: string | null, limit: number): Promise<SubscriberRecord[]>;
  listTopics(tenantId: string, after: string | null, limit: number): Promise<TopicRecord[]>;
  /** The members of many topics in one read: topic key → member count (topics without members are left out). */
  countTopicMembersOf(tenantId: string, keys: string[]): Promise<Map<string, number>>;
  /** Upserts every item (fields as upsertSubscriber), all in one transaction. */
  upsertSubscribers(
    tenantId: string,
    items: ({ id: string } & SubscriberPatch)[],
    now: number,
  ): Promise<SubscriberRecord[]>;
  /**
   * Deletes the workflow (new events for it are refused as unknown) and then cancels what it has
   * not sent yet: its events none of whose messages went out (scheduled, digesting, not yet
   * delivered), then its messages still waiting (queued or deferred), each with a timeline entry.
   * Events and messages stored after the call began (the key PUT again meanwhile) are not touched. SQLite
   * walks them a range a transaction, the event loop given back between; PostgreSQL in one
   * statement. Answers null when there was no such workflow.
   */
  deleteWorkflow(tenantId: string, key: string, now: number): Promise<DeletedWorkflow | null>;
  /** Deletes the integration and its published circuit; answers whether there was one. */
  deleteIntegration(tenantId: string, id: string): Promise<boolean>;
  /** Deletes the topic and its memberships (not the subscribers); answers whether there was one. */
  deleteTopic(tenantId: string, key: string): Promise<boolean>;
}

/** Why a consent change happened, for the consent log. */
export interface ConsentNote {
  source: ConsentSource;
  detail: string | null;
}

/** A change to an address's suppression, logged for the subscribers who hold the address. */
export interface AddressConsent extends ConsentNote {
  subscriberIds: readonly string[];
}

/**
 * One consent log entry. `change` is `{"preferences": <the PATCH as applied>}`,
 * `{"suppressed": {channel, reason}}` or `{"unsuppressed": {channel, reason}}`.
 */
export interface ConsentRecord {
  id: number;
  at: number;
  change: Record<string, unknown>;
  source: ConsentSource;
  detail: string | null;
}

/** One erasure (API.md `DELETE /v1/subscribers/{id}`), as its job carries it from batch to batch. */
export interface ErasureRequest {
  tenantId: string;
  subscriberId: string;
  /**
   * What is kept names the subscriber by this (a keyed hash of the id) from now on: their
   * messages' `subscriberId` and their consent log entries.
   */
  erasedId: string;
  /** Messages created up to this time are erased; later ones belong to a new subscriber of that id. */
  before: number;
  now: number;
  /** Messages per transaction. */
  batch: number;
}

/**
 * The job that goes on with an erasure, or how to make it from the moment the erasure takes effect
 * in the store (at least `request.before`): a delivery that read the subscriber before the
 * erasure and wrote before it took effect made messages after `request.before`, which the job must
 * erase too.
 */
export type ErasureJob = JobSpec | ((before: number) => JobSpec);

/** Where scrubWaitingEvents goes on: after job `id`, due at `runAt`, of `lane` (jobs_ready order). */
export interface WaitingJobsCursor {
  lane: Lane;
  runAt: number;
  id: number;
}

/** One event an open digest of the subscriber gathered, with its digest (pageDigestEvents). */
export interface DigestEventRef {
  digestId: string;
  workflow: string;
  openedAt: number;
  closesAt: number;
  eventId: string;
}

/** A ready job of a fanout or deliver kind as the export reads it (pageWaitingJobs). */
export interface WaitingJobRef {
  id: number;
  kind: string;
  runAt: number;
  /** The payload, parsed; null for a job of any other kind (its payload is not read). */
  payload: Record<string, unknown> | null;
}

/** What the retention sweep deletes per tenant, oldest first, by id (ids sort by creation time). */
export type ExpiringTable = 'events' | 'messages' | 'sandbox_captures' | 'skipped_steps';

/** Personal data rights: the consent log, export, erasure and retention (API.md "Subscribers…"). */
export interface PersonalDataStore {
  /** A subscriber's consent log after entry `afterId`, oldest first, at most `limit`. */
  listConsentLog(
    tenantId: string,
    subscriberId: string,
    afterId: number,
    limit: number,
  ): Promise<ConsentRecord[]>;
  /** The keys of the topics the subscriber belongs to, in key order. */
  subscriberTopics(tenantId: string, subscriberId: string): Promise<string[]>;
  /**
   * The events the subscriber's digests (open, or closing and not yet written) have gathered, in
   * digest id then event id order, after `after` (null: from the first), at most `limit`:
   * what the export lists as pending before the digest becomes a message.
   */
  pageDigestEvents(
    tenantId: string,
    subscriberId: string,
    after: { digestId: string; eventId: string } | null,
    limit: number,
  ): Promise<DigestEventRef[]>;
  /**
   * Up to `limit` of the tenant's ready jobs after `after` (null: the first) in their claim order
   * (lane after lane; scrubWaitingEvents' order), with the payloads of `fanout` and `deliver`
   * jobs only; and where to go on, or null after the last lane. Read-only: the export looks
   * through them for events still to reach the subscriber (a `sendAt` or schedule ahead).
   */
  pageWaitingJobs(
    tenantId: string,
    after: WaitingJobsCursor | null,
    limit: number,
  ): Promise<{ jobs: WaitingJobRef[]; next: WaitingJobsCursor | null }>;
  /**
   * Which of `eventIds` (the tenant's) name the subscriber in their `to`, by id or as an inline
   * subscriber: decided in the database, so only those are read whole (the export's pending
   * events among a queue of many others'). In no particular order.
   */
  eventsNaming(tenantId: string, eventIds: readonly string[], subscriberId: string): Promise<string[]>;
  /**
   * Starts an erasure, in one transaction: deletes the profile, preferences, devices, topic
   * memberships, inbox change log, presence rows (of every holder) and open digests (the events
   * they gathered scrubbed as eraseMessages does); keeps only `erasedId`, time, change and source
   * of the consent log; erases the first batch of messages (eraseMessages) and of the events they
   * were the actor of (eraseActorEvents) and queues `job` to do the rest (eraseMessages,
   * eraseSkippedSteps, eraseActorEvents, scrubWaitingEvents). `notice` goes out with the
   * commit (ChannelNotice). Answers whether the tenant had a profile of that id (the rest is
   * erased either way).
   */
  beginErasure(request: ErasureRequest, job: ErasureJob, notice?: ChannelNotice): Promise<boolean>;
  /**
   * Erases one batch of the subscriber's messages created up to `request.before`, in one
   * transaction: content, data, meta and errors emptied, timelines cut to times and statuses, the
   * subscriber id replaced by `erasedId`, unsent ones cancelled, their sandbox captures deleted.
   * Answers how many it erased (fewer than `batch`: none are left).
   */
  eraseMessages(request: ErasureRequest): Promise<number>;
  /**
   * Names one batch of the subscriber's skipped steps (made up to `request.before`) by
   * `erasedId` instead, so an event's view no longer shows whose they were, and scrubs their
   * events as eraseMessages does (an event whose every step was skipped for them has no message).
   * Answers how many (fewer than `batch`: none are left).
   */
  eraseSkippedSteps(request: ErasureRequest): Promise<number>;
  /**
   * Names the subscriber by `erasedId` in one batch of the events (accepted up to
   * `request.before`) whose `actor` they were: `actor` is the plain id of whoever caused the
   * event, kept apart from its recipients (`to`, which eraseMessages scrubs) and left as it was
   * otherwise. Read through an index of the events that carry an actor, never a scan. Answers how
   * many it rewrote (fewer than `batch`: none are left).
   */
  eraseActorEvents(request: ErasureRequest): Promise<number>;
  /**
   * Scrubs (as eraseMessages does) the events that up to `limit` of the tenant's ready jobs,
   * after `after` in their claim order, will still fan out or deliver to the subscriber — and,
   * on the first page (`after` null), its running jobs: an event due later (`sendAt`, a
   * local-time schedule) names them and holds their data without any message yet. A deliver
   * job's page loses their id. Answers where to go on, or null when the tenant has no ready job
   * left. With `webhooksOnly`, only status webhooks about their messages made up to
   * `request.before` are rewritten (a pass after the messages: whatever else names the id by
   * then may be a new subscriber's of the same id).
   */
  scrubWaitingEvents(
    request: ErasureRequest,
    after: WaitingJobsCursor | null,
    limit: number,
    webhooksOnly?: boolean,
  ): Promise<WaitingJobsCursor | null>;
  /**
   * Deletes the subscriber's rate-limit counters (their id is in the counter's scope, which would
   * keep it for up to a year's window) of up to `limit` of the tenant's rules, from the first
   * scope at or after `from` (null: the first): a seek per rule, never a scan of the counters.
   * Answers where to go on, or null when no rule is left.
   */
  eraseRateCounters(request: ErasureRequest, from: string | null, limit: number): Promise<string | null>;
  /**
   * Called once an erasure has finished: removes what the database's own files may still hold of
   * the rows it rewrote or deleted. SQLite: the write-ahead log's older page images are copied
   * back and the log truncated (pages freed meanwhile were zeroed as they were freed).
   * PostgreSQL: nothing to do here (old row versions are VACUUM's; docs/personal-data-rights.md).
   */
  settleErasure(): Promise<void>;
  /**
   * Scrubs these events (as eraseMessages does) of an erased subscriber they name: a delivery
   * that finds a recipient gone (erased after the event was accepted, before its erasure job read
   * the queue) leaves the event to no job and no message the erasure would reach it by.
   */
  scrubEventsOf(
    who: Pick<ErasureRequest, 'tenantId' | 'subscriberId' | 'erasedId'>,
    eventIds: string[],
  ): Promise<void>;
  /** Deletes up to `limit` of the tenant's rows of `table` created before `before`; answers how many. */
  purgeExpired(table: ExpiringTable, tenantId: string, before: number, limit: number): Promise<number>;
  /** Deletes up to `limit` dead letters (dead jobs) created before `before`; answers how many. */
  purgeDeadJobs(before: number, limit: number): Promise<number>;
}

/**
 * The one storage port. Every query Tidings runs lives behind it; SQLite and PostgreSQL
 * adapters implement it and pass the same contract suite (test/store/contract.ts).
 */
export interface Store
  extends JobStore,
    TenantStore,
    EventStore,
    SubscriberStore,
    DeviceStore,
    WorkflowStore,
    IntegrationStore,
    CircuitStore,
    MessageStore,
    InboxStore,
    PresenceStore,
    PreferenceStore,
    TenantSettingsStore,
    RateCounterStore,
    DigestStore,
    WebhookEndpointStore,
    FeedbackStore,
    ListingStore,
    PersonalDataStore {
  readonly dialect: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  /**
   * Seals and opens the personal fields this store keeps (email, phone, device tokens), and
   * hashes addresses for lookups. A store opens with a key of its own; start-up switches it to
   * the installation's (src/security/personal-data-key.ts) before anything personal is written.
   */
  readonly personalData: PersonalData;
  /**
   * Seals what an earlier version stored in clear (subscribers' email and phone, device tokens,
   * sandbox recipients) under `personalData`, adds the keyed hashes, and moves suppressions and
   * devices from their old unkeyed hashes to keyed ones. In short transactions; answers how many
   * rows it rewrote. Run at start, once the installation's key is in place.
   */
  sealLegacyPersonalData(): Promise<number>;
  /**
   * Stores the digest keys an earlier version kept as rendered (an address, say) as their keyed
   * hash (storedDigestKey), so the next event of the key joins the same open digest; a digest
   * whose hashed key another open digest holds already keeps its key until it closes. Answers how
   * many it re-keyed. Run at start, once the installation's key is in place.
   */
  rehashLegacyDigestKeys(): Promise<number>;
  /**
   * Readiness: resolves once queries that read the store's tables (a tenant, the ready end of the
   * job queue) work — read from the database itself, not a connection's cache, so a damaged SQLite
   * file fails it; rejects with the store's error otherwise.
   */
  probe(): Promise<void>;
  /**
   * Where `capabilities.crossProcessWakeups`: a channel to the other processes. With `onMessage`
   * it listens (reconnecting on its own after the database restarts, then calling
   * `onReconnect`); without, it only publishes.
   */
  openChannel?(
    name: StoreChannelName,
    onMessage: ((payload: string) => void) | null,
    onReconnect?: () => void,
  ): Promise<StoreChannel>;
  close(): Promise<void>;
}
