import Type, { type TSchema } from 'typebox';
import { CHANNELS, DEVICE_PLATFORMS, LANES, MESSAGE_STATUSES } from '../../shared/model.ts';
import { ENDPOINT_EVENT_TYPES } from '../../webhooks/events.ts';
import { ERROR_CODES } from '../errors.ts';

/**
 * Response bodies as /openapi.json documents them. They document only: Fastify serializes
 * answers as the routes build them (src/api/views.ts), and test/api/openapi-examples.test.ts
 * checks real answers against these schemas, so a field added there without being added here
 * (or the other way round) fails that test.
 */

const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
const Channel = Type.Enum([...CHANNELS]);
const Status = Type.Enum([...MESSAGE_STATUSES]);
const Json = Type.Record(Type.String(), Type.Unknown());
const Cursor = Type.Union([Type.String(), Type.Null()], {
  description: 'pass as `cursor` for the next page; null on the last page',
});

export const TimelineEntry = Type.Object(
  { at: Time, status: Type.String(), detail: Type.Optional(Type.String()) },
  {
    description:
      "one step of a message: its status and a short reason, oldest first; an erased subscriber's messages keep `at` and `status` only",
  },
);

export const HealthStatus = Type.Object({ status: Type.Literal('ok') });
export const ReadyStatus = Type.Object({ status: Type.Literal('ready') });
/** This very document (/openapi.json): OpenAPI 3.1, every route under `paths`. */
export const OpenApiDocument = Type.Object({
  openapi: Type.Literal('3.1.0'),
  info: Json,
  paths: Json,
});

export const Accepted = Type.Object({
  eventId: Type.String(),
  status: Type.Literal('accepted'),
  duplicate: Type.Optional(Type.Literal(true, { description: 'the idempotency key was seen: no new event' })),
});

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.Enum(Object.keys(ERROR_CODES), { description: 'stable: program against it' }),
      message: Type.String({ description: 'for humans; may change' }),
      details: Type.Array(
        Type.Object({
          path: Type.String({ description: 'the field, e.g. `to[1].email`' }),
          message: Type.String(),
        }),
      ),
    }),
  },
  { description: 'Every error, in the one catalogue (docs/api.md "Errors")' },
);

export const BulkResult = Type.Object({
  results: Type.Array(Type.Union([Accepted, Type.Object({ error: ErrorBody.properties.error })]), {
    description: 'one per event, in request order: accepted, or the error for that event alone',
  }),
});

const WorkflowVersion = Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
  description: 'the workflow version it renders with: the one current when the event was accepted',
});

export const EventView = Type.Object({
  eventId: Type.String(),
  workflow: Type.String(),
  workflowVersion: WorkflowVersion,
  status: Type.Enum(['accepted', 'processing', 'completed', 'cancelled']),
  priority: Type.Enum([...LANES]),
  createdAt: Time,
  to: Type.Array(Type.Unknown(), {
    description:
      'as sent, except that an inline recipient is named by reference only ({"subscriberId"}): its address, locale, zone and data are its subscriber\'s (GET /v1/subscribers/{id})',
  }),
  data: Json,
  sendAt: Type.Optional(Type.String({ description: 'as sent: when the event was to be delivered' })),
  schedule: Type.Optional(Json),
  cancellationKey: Type.Optional(Type.String({ description: 'as sent' })),
  actor: Type.Optional(
    Type.String({
      description:
        'as sent: `actor` in its templates and conditions; once that subscriber is erased, the erased id ("erased:…")',
    }),
  ),
  locale: Type.Optional(
    Type.String({ description: "as sent: the locale every recipient's messages render in" }),
  ),
  messages: Type.Array(
    Type.Object({
      messageId: Type.String(),
      subscriberId: Type.String(),
      channel: Channel,
      status: Status,
      reason: NullableString,
      provider: NullableString,
      escalated: Type.Boolean(),
      timeline: Type.Array(TimelineEntry),
    }),
  ),
  skipped: Type.Array(
    Type.Object({
      subscriberId: Type.String(),
      channel: Channel,
      step: Type.Integer(),
      reason: Type.String(),
    }),
  ),
});

export const EventCancelled = Type.Object({
  eventId: Type.String(),
  status: Type.Union([Type.Literal('cancelled'), Type.Literal('completed')], {
    description: '`completed`: all its work was done and nothing was left to stop; it stays completed',
  }),
  cancelledMessages: Type.Integer({ minimum: 0 }),
});

export const EventsCancelled = Type.Object({
  cancellationKey: Type.String(),
  cancelledEvents: Type.Integer({ minimum: 0 }),
  cancelledMessages: Type.Integer({ minimum: 0 }),
});

export const SubscriberView = Type.Object({
  subscriberId: Type.String(),
  email: NullableString,
  phone: NullableString,
  locale: NullableString,
  timezone: NullableString,
  data: Json,
  createdAt: Time,
  updatedAt: Time,
});

export const SubscriberToken = Type.Object({
  token: Type.String({ description: 'HS256 JWT for the inbox routes' }),
  expiresAt: Time,
});

export const TopicView = Type.Object({
  key: Type.String(),
  name: NullableString,
  createdAt: Time,
  subscriberCount: Type.Integer({ minimum: 0 }),
});

export const TopicMembersAdded = Type.Object({
  key: Type.String(),
  added: Type.Integer({
    minimum: 0,
    description:
      'how many of the ids became members: one already a member is not counted, one named twice once',
  }),
  subscriberCount: Type.Integer({ minimum: 0 }),
});

export const DeviceView = Type.Object({
  deviceId: Type.String(),
  platform: Type.Enum([...DEVICE_PLATFORMS]),
  active: Type.Boolean(),
  deactivatedAt: NullableTime,
  reason: NullableString,
  tokenHint: Type.String({ description: 'the end of the token: the token itself is never returned' }),
  createdAt: Time,
  updatedAt: Time,
});

const ChannelChoices = Type.Record(Type.String(), Type.Union([Type.Boolean(), Type.Null()]));
export const PreferencesView = Type.Object({
  channels: ChannelChoices,
  categories: Type.Record(Type.String(), ChannelChoices),
  workflows: Type.Record(Type.String(), Type.Object({ enabled: Type.Boolean() })),
  quietHours: Type.Union([Type.Object({ start: Type.String(), end: Type.String() }), Type.Null()]),
});

export const SettingsView = Type.Object({
  defaultTimezone: NullableString,
  dailyCap: Type.Union([Type.Object({ perSubscriber: Type.Integer() }), Type.Null()]),
  inboxTabs: Type.Record(Type.String(), Type.Array(Type.String())),
});

export const WorkflowView = Type.Object(
  {
    key: Type.String(),
    channels: Type.Array(
      Type.Object({
        channel: Channel,
        template: Type.Optional(
          Type.Record(Type.String(), Type.String(), { description: 'absent with variants' }),
        ),
      }),
    ),
    paused: Type.Boolean(),
    pausedReason: NullableString,
    version: Type.Integer({ minimum: 1 }),
    createdAt: Time,
    updatedAt: Time,
  },
  { description: 'the definition as saved (every field of the PUT body), plus these' },
);

export const WorkflowVersions = Type.Object({
  items: Type.Array(
    Type.Object({
      version: Type.Integer({ minimum: 1 }),
      current: Type.Boolean({ description: 'the version new events use' }),
      createdAt: Time,
      definition: Json,
    }),
    { description: 'newest first' },
  ),
  nextCursor: Type.Null({ description: 'one page: every version' }),
});

export const WorkflowPreview = Type.Object({
  workflow: Type.String(),
  version: Type.Integer({ minimum: 1 }),
  channels: Type.Array(
    Type.Object({
      channel: Channel,
      content: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
      variant: Type.Optional(Type.String()),
      skipped: Type.Optional(Type.String({ description: "the step's `if` was false: no message" })),
      error: Type.Optional(
        Type.Object({ reason: Type.Enum(['template_error', 'template_timeout']), message: Type.String() }),
      ),
    }),
  ),
});

export const WorkflowStats = Type.Object({
  workflow: Type.String(),
  variants: Type.Array(
    Type.Object({
      name: Type.String(),
      total: Type.Integer({ minimum: 0 }),
      statuses: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
        description: 'messages of the variant by current status',
      }),
    }),
  ),
});

export const LayoutView = Type.Object({
  key: Type.String(),
  version: Type.Integer({ minimum: 1 }),
  mjml: Type.Optional(Type.String()),
  html: Type.Optional(Type.String()),
  compiledHtml: Type.String({ description: 'what emails are framed in; {{ content }} marks their place' }),
  createdAt: Time,
});

export const IntegrationView = Type.Object({
  id: Type.String(),
  channel: Channel,
  provider: Type.String(),
  priority: Type.Integer(),
  enabled: Type.Boolean(),
  config: Json,
  rateLimit: Type.Union([Type.Object({ perSecond: Type.Integer() }), Type.Null()]),
  hasCredentials: Type.Boolean({ description: 'credentials are never returned' }),
  health: Type.Enum(['healthy', 'degraded', 'down', 'disabled'], {
    description: 'read from the circuit breaker',
  }),
  circuit: Type.Object({
    state: Type.Enum(['closed', 'open', 'half_open']),
    failures: Type.Integer({ minimum: 0 }),
    openedAt: NullableTime,
  }),
  createdAt: Time,
  updatedAt: Time,
});

export const MessageView = Type.Object({
  messageId: Type.String(),
  eventId: Type.String(),
  subscriberId: Type.String(),
  workflow: Type.String(),
  workflowVersion: WorkflowVersion,
  channel: Channel,
  status: Status,
  provider: NullableString,
  providerMessageId: NullableString,
  content: Type.Record(Type.String(), Type.String(), { description: 'the rendered template fields' }),
  meta: Json,
  reason: NullableString,
  escalated: Type.Boolean(),
  lastError: NullableString,
  createdAt: Time,
  updatedAt: Time,
  timeline: Type.Array(TimelineEntry),
});

export const ReplayQueued = Type.Object({ messageId: Type.String(), status: Type.Literal('queued') });

export const SandboxCaptures = Type.Object({
  nextCursor: Cursor,
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      messageId: Type.String(),
      channel: Channel,
      to: Type.Unknown({ description: 'the address the message would have gone to' }),
      content: Type.Record(Type.String(), Type.String()),
      createdAt: Time,
    }),
  ),
});

export const ReceiptAnswer = Type.Object({ messageId: Type.String(), status: Status });

export const InboxItem = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  workflow: Type.String(),
  title: NullableString,
  body: NullableString,
  content: Type.Record(Type.String(), Type.String()),
  data: Type.Unknown({ description: 'what the workflow\'s "inboxData" lets through of the event data' }),
  createdAt: Time,
  seenAt: NullableTime,
  readAt: NullableTime,
  archivedAt: NullableTime,
  snoozedUntil: NullableTime,
  actionUrl: NullableString,
  actions: Type.Array(Type.Object({ label: Type.String(), url: Type.String() }), { maxItems: 2 }),
});

export const UnreadCount = Type.Object({
  count: Type.Integer({ minimum: 0 }),
  tabs: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
});

export const InboxClicked = Type.Object({ url: NullableString, item: InboxItem });
export const InboxUpdated = Type.Object({ updated: Type.Integer({ minimum: 0 }) });

export const WebhookEndpointView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.Enum([...ENDPOINT_EVENT_TYPES])),
  enabled: Type.Boolean(),
  disabledReason: NullableString,
  createdAt: Time,
  updatedAt: Time,
});

export const WebhookEndpointCreated = Type.Object({
  ...WebhookEndpointView.properties,
  secret: Type.String({ description: 'whsec_…: shown once' }),
});

export const WebhookEndpointRotated = Type.Object({
  ...WebhookEndpointView.properties,
  secret: Type.String({ description: 'the new secret: shown once' }),
  previousSecretExpiresAt: NullableTime,
});

export const WebhookTestQueued = Type.Object({ webhookId: Type.String(), type: Type.String() });

export const TenantCreated = Type.Object({
  tenantId: Type.String(),
  name: Type.String(),
  apiKey: Type.String({ description: 'shown once' }),
  keyId: Type.String(),
});

export const KeyCreated = Type.Object({
  keyId: Type.String(),
  tenantId: Type.String(),
  apiKey: Type.String({ description: 'shown once' }),
  prefix: Type.String(),
  label: Type.String(),
});

export const KeyView = Type.Object({
  keyId: Type.String(),
  prefix: Type.String(),
  label: NullableString,
  createdAt: Time,
});

export const TenantView = Type.Object({ tenantId: Type.String(), name: NullableString, createdAt: Time });

/** A page of items, as every list answers. */
export const Page = (item: TSchema) => Type.Object({ items: Type.Array(item), nextCursor: Cursor });

export const ConsentEntry = Type.Object(
  {
    at: Time,
    change: Type.Record(Type.String(), Type.Unknown(), {
      description: '`{"preferences": …}`, `{"suppressed": {channel, reason}}` or `{"unsuppressed": …}`',
    }),
    source: Type.Enum(['api', 'preference_page', 'unsubscribe_link', 'sms_stop', 'complaint', 'bounce']),
    detail: NullableString,
  },
  { description: 'one consent change, oldest first (docs/personal-data-rights.md)' },
);
export const ConsentLogView = Type.Object({
  items: Type.Array(ConsentEntry),
  nextCursor: Type.Null({ description: 'one page: the whole log' }),
});

export const SubscriberExport = Type.Object(
  {
    exportedAt: Time,
    profile: SubscriberView,
    subscriber: SubscriberView,
    preferences: PreferencesView,
    devices: Type.Array(DeviceView, { description: 'tokens masked, as the device list shows them' }),
    topics: Type.Array(Type.String()),
    consentLog: Type.Array(ConsentEntry),
    pending: Type.Array(
      Type.Object({
        eventId: Type.String(),
        workflow: Type.String(),
        createdAt: Time,
        data: Json,
        actor: Type.Optional(Type.String()),
        sendAt: Type.Optional(Type.String({ description: 'as sent' })),
        schedule: Type.Optional(Json),
        reason: Type.Enum(['digest', 'scheduled'], {
          description:
            '`digest`: gathered into a digest window of theirs; `scheduled`: due later (or queued)',
        }),
        digest: Type.Optional(
          Type.Object({ openedAt: Time, closesAt: Time }, { description: 'reason `digest`: its window' }),
        ),
        dueAt: Type.Optional(Time),
      }),
      {
        description:
          'events for them that are no message yet: gathered into a digest of theirs, or still to be fanned out or delivered to them (a sendAt or schedule ahead)',
      },
    ),
    messages: Type.Array(MessageView, {
      description:
        'newest first, each with `data` too; in-app messages also with `inbox`: {seenAt, readAt, archivedAt, snoozedUntil}',
    }),
  },
  { description: 'everything held about the subscriber, streamed' },
);

export const ErasureAccepted = Type.Object({
  subscriberId: Type.String(),
  status: Type.Literal('erasing'),
});

export const TopicMember = Type.Union([SubscriberView, Type.Object({ subscriberId: Type.String() })]);

export const ConsentLog = Type.Object({
  items: Type.Array(
    Type.Object({
      at: Time,
      change: Type.Unknown({ description: 'what changed (the preference patch)' }),
      source: Type.String({
        description: 'api, preference_page, unsubscribe_link, sms_stop, complaint, bounce',
      }),
      detail: Type.Unknown(),
    }),
    { description: 'every consent change, oldest first (the whole log: no pages)' },
  ),
});

export const WorkflowDeleted = Type.Object({
  key: Type.String(),
  deleted: Type.Literal(true),
  cancelledEvents: Type.Integer({ minimum: 0 }),
  cancelledMessages: Type.Integer({ minimum: 0 }),
});

export const BulkSubscribers = Type.Object({
  results: Type.Array(Type.Union([SubscriberView, Type.Object({ error: ErrorBody.properties.error })]), {
    description: 'one per subscriber, in request order: as stored, or the error for that one alone',
  }),
});
