import type { TSchema } from 'typebox';
import { EventBody, InlineSubscriber } from '../../ingest/schema.ts';
import type { ErrorCode } from '../errors.ts';
import * as B from './bodies.ts';

/**
 * What each operation answers, for /openapi.json: its success statuses with their bodies, the
 * error codes of its own (those every route of its kind can answer are added in document.ts),
 * a summary, and examples. Keyed by `METHOD /openapi/path`. Request examples are sent to a real
 * server by test/api/openapi-examples.test.ts, in the order of this table.
 */
export interface Success {
  description: string;
  /** JSON body; absent with `media` (not JSON) or an empty answer (204). */
  schema?: TSchema;
  media?: string;
  example?: unknown;
}

export interface OperationDoc {
  summary: string;
  tag: string;
  success: Record<number, Success>;
  errors?: ErrorCode[];
  /**
   * Refusals answered with an HTML page instead of the JSON error body, by status (what a browser
   * shows the subscriber: the preference page's bad links and forms).
   */
  pages?: Record<number, string>;
  /**
   * Parameters the route reads by hand, with no schema for them to be documented from (the
   * streams' `token`, `after` and `Last-Event-ID`): listed beside those the schemas give.
   */
  readByHand?: { name: string; in: 'query' | 'header'; description: string }[];
  /** Path parameter examples. */
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /**
   * A bulk route's items, checked one by one (so that one bad item refuses only itself: its route
   * schema takes any item), documented as `schema` under the body's `property`.
   */
  bulkItems?: { property: string; schema: TSchema };
}

const DEMO_WORKFLOW = {
  name: 'Welcome',
  category: 'account',
  channels: [
    { channel: 'in_app', template: { title: 'Welcome, {{ data.name }}!', body: 'Glad you are here.' } },
    { channel: 'email', template: { subject: 'Welcome, {{ data.name }}', text: 'Hello {{ data.name }}!' } },
  ],
};
const WORKFLOW_VIEW = {
  key: 'welcome',
  ...DEMO_WORKFLOW,
  paused: false,
  pausedReason: null,
  version: 1,
  createdAt: '2026-01-05T09:30:00.000Z',
  updatedAt: '2026-01-05T09:30:00.000Z',
};
const SUBSCRIBER = {
  email: 'ada@example.com',
  locale: 'en',
  timezone: 'Europe/London',
  data: { plan: 'pro' },
};
const EVENT = {
  workflow: 'welcome',
  to: [{ subscriberId: 'ada', email: 'ada@example.com' }],
  data: { name: 'Ada' },
  idempotencyKey: 'signup-ada',
};
const SUBSCRIBER_PARAMS = { subscriberId: 'ada' };
const AT = '2026-01-05T09:30:00.000Z';
const SUBSCRIBER_VIEW = {
  subscriberId: 'ada',
  email: 'ada@example.com',
  phone: null,
  locale: 'en',
  timezone: 'Europe/London',
  data: { plan: 'pro' },
  createdAt: AT,
  updatedAt: AT,
};
const TIMELINE = [
  { at: AT, status: 'queued', detail: 'normal lane' },
  { at: '2026-01-05T09:30:00.120Z', status: 'sending', detail: 'via smtp (mail)' },
  { at: '2026-01-05T09:30:00.480Z', status: 'sent', detail: 'SMTP 250 2.0.0 queued' },
];
const MESSAGE_VIEW = {
  messageId: 'msg_01JH2X3Y5A',
  eventId: 'evt_01JH2X3Y4Z',
  subscriberId: 'ada',
  workflow: 'welcome',
  workflowVersion: 1,
  channel: 'email',
  status: 'sent',
  provider: 'smtp',
  providerMessageId: null,
  content: { subject: 'Welcome, Ada', text: 'Hello Ada!' },
  meta: { messageIdHeader: '<msg_01JH2X3Y5A@tidings>' },
  reason: null,
  escalated: false,
  lastError: null,
  createdAt: AT,
  updatedAt: '2026-01-05T09:30:00.480Z',
  timeline: TIMELINE,
};
const EVENT_VIEW = {
  eventId: 'evt_01JH2X3Y4Z',
  workflow: 'welcome',
  workflowVersion: 1,
  status: 'completed',
  priority: 'normal',
  createdAt: AT,
  to: [{ subscriberId: 'ada', email: 'ada@example.com' }],
  data: { name: 'Ada' },
  messages: [
    {
      messageId: 'msg_01JH2X3Y5A',
      subscriberId: 'ada',
      channel: 'email',
      status: 'sent',
      reason: null,
      provider: 'smtp',
      escalated: false,
      timeline: TIMELINE,
    },
  ],
  skipped: [],
};
const INBOX_ITEM = {
  id: 'msg_01JH2X3Y5B',
  eventId: 'evt_01JH2X3Y4Z',
  workflow: 'welcome',
  title: 'Welcome, Ada!',
  body: 'Glad you are here.',
  content: { title: 'Welcome, Ada!', body: 'Glad you are here.' },
  data: { name: 'Ada' },
  createdAt: AT,
  seenAt: null,
  readAt: null,
  archivedAt: null,
  snoozedUntil: null,
  actionUrl: null,
  actions: [],
};
const NOT_FOUND: ErrorCode[] = ['not_found'];
const STREAM_TOKEN = {
  name: 'token',
  in: 'query',
  description:
    'a subscriber token, for clients that cannot send Authorization (EventSource, browser WebSockets)',
} as const;
const STREAM_AFTER = {
  name: 'after',
  in: 'query',
  description: 'the id of the last event received: what came after it is replayed first',
} as const;
const LAST_EVENT_ID = {
  name: 'Last-Event-ID',
  in: 'header',
  description: 'as after; EventSource sends it when it reconnects',
} as const;

function ok(schema: TSchema, description = 'OK', example?: unknown): Record<number, Success> {
  return { 200: example === undefined ? { description, schema } : { description, schema, example } };
}
const NO_CONTENT: Record<number, Success> = { 204: { description: 'Done: no body' } };

export const OPERATIONS: Record<string, OperationDoc> = {
  'GET /healthz': {
    summary: 'Liveness: the process answers',
    tag: 'Operations',
    success: { 200: { description: 'alive', schema: B.HealthStatus, example: { status: 'ok' } } },
  },
  'GET /readyz': {
    summary: 'Readiness: the store answers and this process’s workers run',
    tag: 'Operations',
    success: { 200: { description: 'ready', schema: B.ReadyStatus, example: { status: 'ready' } } },
    errors: ['unavailable'],
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (text exposition format)',
    tag: 'Operations',
    success: { 200: { description: 'metrics', media: 'text/plain' } },
  },
  'GET /openapi.json': {
    summary: 'This OpenAPI 3.1 document: every route, its requests, answers and errors',
    tag: 'Operations',
    success: { 200: { description: 'the document', schema: B.OpenApiDocument } },
  },
  'PUT /v1/workflows/{key}': {
    summary: 'Create or replace a workflow (a new version)',
    tag: 'Workflows',
    success: ok(B.WorkflowView, 'the workflow as saved', WORKFLOW_VIEW),
    // 429: a tenant's requests that compile MJML take turns (src/api/mjml-turns.ts).
    errors: ['rate_limited'],
    params: { key: 'welcome' },
    body: DEMO_WORKFLOW,
  },
  'GET /v1/workflows/{key}/versions': {
    summary: "List a workflow's versions, newest first",
    tag: 'Workflows',
    success: ok(
      B.WorkflowVersions,
      'a page of saved versions, newest first (fewer than `limit` when their definitions are large: about 1 MB of them a page)',
    ),
    errors: NOT_FOUND,
    params: { key: 'welcome' },
  },
  'POST /v1/workflows/{key}/rollback': {
    summary: 'Make a copy of an earlier version the current one (a new version)',
    tag: 'Workflows',
    success: ok(B.WorkflowView, 'the workflow as saved'),
    errors: [...NOT_FOUND, 'rate_limited'],
    params: { key: 'welcome' },
    body: { version: 1 },
  },
  'POST /v1/workflows/{key}/preview': {
    summary: 'Render a workflow for one recipient as a send would, sending nothing',
    tag: 'Workflows',
    success: ok(B.WorkflowPreview, 'every step, rendered'),
    // 422: the steps render more than a preview may answer; 429: the tenant's previews run one at a time.
    errors: [...NOT_FOUND, 'unprocessable', 'rate_limited'],
    params: { key: 'welcome' },
    body: { subscriber: { subscriberId: 'ada', locale: 'en-GB' }, data: { name: 'Ada' } },
  },
  'GET /v1/workflows/{key}/stats': {
    summary: "Count an A/B test's messages per variant and status",
    tag: 'Workflows',
    success: ok(B.WorkflowStats, 'per variant: messages by status'),
    errors: NOT_FOUND,
    params: { key: 'welcome' },
  },
  'PUT /v1/layouts/{key}': {
    summary: 'Save an email layout (a new version): MJML or HTML holding {{ content }}',
    tag: 'Workflows',
    success: ok(B.LayoutView, 'the layout as saved'),
    errors: ['rate_limited'],
    params: { key: 'brand' },
    body: { html: '<div class="brand">{{ content }}</div>' },
  },
  'GET /v1/layouts/{key}': {
    summary: "Read a layout's newest version",
    tag: 'Workflows',
    success: ok(B.LayoutView, 'the layout'),
    errors: NOT_FOUND,
    params: { key: 'brand' },
  },
  'GET /v1/workflows/{key}': {
    summary: 'Read a workflow',
    tag: 'Workflows',
    success: ok(B.WorkflowView, 'the workflow', WORKFLOW_VIEW),
    errors: NOT_FOUND,
    params: { key: 'welcome' },
  },
  'GET /v1/workflows': {
    summary: 'List workflows',
    tag: 'Workflows',
    success: ok(
      B.Page(B.WorkflowView),
      'a page of workflows, in key order (fewer than `limit` when their definitions are large: about 1 MB of them a page)',
    ),
  },
  'PUT /v1/subscribers/{subscriberId}': {
    summary: 'Create or update a subscriber (fields given replace those stored)',
    tag: 'Subscribers',
    success: ok(B.SubscriberView, 'the subscriber as stored', SUBSCRIBER_VIEW),
    errors: ['validation_failed'],
    params: SUBSCRIBER_PARAMS,
    body: SUBSCRIBER,
  },
  'GET /v1/subscribers/{subscriberId}': {
    summary: 'Read a subscriber',
    tag: 'Subscribers',
    success: ok(B.SubscriberView, 'the subscriber', SUBSCRIBER_VIEW),
    errors: NOT_FOUND,
    params: SUBSCRIBER_PARAMS,
  },
  'POST /v1/subscribers/{subscriberId}/token': {
    summary: 'Mint a subscriber token for the browser inbox',
    tag: 'Subscribers',
    success: ok(B.SubscriberToken, 'a token (Cache-Control: no-store)', {
      token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl',
      expiresAt: '2026-01-05T10:30:00.000Z',
    }),
    params: SUBSCRIBER_PARAMS,
    body: { expiresIn: '1h' },
  },
  'PUT /v1/subscribers/{subscriberId}/devices/{deviceId}': {
    summary: 'Register a push device (APNs, FCM) or a Web Push subscription',
    tag: 'Subscribers',
    success: ok(B.DeviceView, 'the device as stored'),
    errors: ['not_found', 'blocked_target', 'unprocessable'],
    params: { subscriberId: 'ada', deviceId: 'ada-iphone' },
    body: { platform: 'apns', token: 'a'.repeat(64) },
  },
  'GET /v1/subscribers/{subscriberId}/devices': {
    summary: "List a subscriber's devices",
    tag: 'Subscribers',
    success: ok(B.Page(B.DeviceView), 'the devices'),
    errors: NOT_FOUND,
    params: SUBSCRIBER_PARAMS,
  },
  'DELETE /v1/subscribers/{subscriberId}/devices/{deviceId}': {
    summary: 'Remove a device',
    tag: 'Subscribers',
    success: NO_CONTENT,
    errors: NOT_FOUND,
  },
  'GET /v1/subscribers/{subscriberId}/consent-log': {
    summary: "A subscriber's consent log: every consent change with its source",
    tag: 'Subscribers',
    success: ok(B.ConsentLogView, 'the entries, oldest first'),
    errors: NOT_FOUND,
    params: SUBSCRIBER_PARAMS,
  },
  'GET /v1/subscribers/{subscriberId}/export': {
    summary: 'Everything held about a subscriber, as one streamed JSON document',
    tag: 'Subscribers',
    success: ok(B.SubscriberExport, 'the export'),
    errors: NOT_FOUND,
    params: SUBSCRIBER_PARAMS,
  },
  'DELETE /v1/subscribers/{subscriberId}': {
    summary: 'Erase a subscriber and their personal data (GDPR erasure)',
    tag: 'Subscribers',
    success: {
      202: { description: 'erasing: the profile is gone, messages follow', schema: B.ErasureAccepted },
    },
    errors: NOT_FOUND,
    // Not `ada`: the examples after this one still read her.
    params: { subscriberId: 'erased_example' },
  },
  'GET /v1/subscribers/{subscriberId}/preferences': {
    summary: "A subscriber's own choices (not the defaults they fall back to)",
    tag: 'Preferences',
    success: ok(B.PreferencesView, 'the choices'),
    errors: NOT_FOUND,
    params: SUBSCRIBER_PARAMS,
  },
  'PATCH /v1/subscribers/{subscriberId}/preferences': {
    summary: "Change a subscriber's choices (null withdraws one)",
    tag: 'Preferences',
    success: ok(B.PreferencesView, 'the choices after the change'),
    // 403: a mandatory category; 422: more than 1,000 categories or workflows in all.
    errors: [...NOT_FOUND, 'forbidden', 'unprocessable'],
    params: SUBSCRIBER_PARAMS,
    body: { channels: { sms: false }, quietHours: { start: '22:00', end: '07:00' } },
  },
  'PUT /v1/topics/{key}': {
    summary: 'Create or rename a topic',
    tag: 'Topics',
    success: ok(B.TopicView, 'the topic', {
      key: 'release-notes',
      name: 'Release notes',
      createdAt: AT,
      subscriberCount: 0,
    }),
    params: { key: 'release-notes' },
    body: { name: 'Release notes' },
  },
  'GET /v1/topics/{key}': {
    summary: 'Read a topic',
    tag: 'Topics',
    success: ok(B.TopicView, 'the topic'),
    errors: NOT_FOUND,
    params: { key: 'release-notes' },
  },
  'POST /v1/topics/{key}/subscribers': {
    summary: 'Add subscribers to a topic (up to 10,000 per request)',
    tag: 'Topics',
    success: ok(B.TopicMembersAdded, 'added'),
    errors: NOT_FOUND,
    params: { key: 'release-notes' },
    body: { subscriberIds: ['ada', 'grace'] },
  },
  'DELETE /v1/topics/{key}/subscribers/{subscriberId}': {
    summary: 'Remove a subscriber from a topic',
    tag: 'Topics',
    success: NO_CONTENT,
    errors: NOT_FOUND,
  },
  'POST /v1/events': {
    summary: 'Trigger a workflow',
    tag: 'Events',
    success: {
      202: {
        description: 'accepted: the event and its first job are committed',
        schema: B.Accepted,
        example: { eventId: 'evt_01JH2X3Y4Z', status: 'accepted' },
      },
      200: {
        description: 'a duplicate: this idempotency key was accepted in the last 24 h with this payload',
        schema: B.Accepted,
        example: { eventId: 'evt_01JH2X3Y4Z', status: 'accepted', duplicate: true },
      },
    },
    errors: ['idempotency_key_mismatch', 'idempotency_key_reused', 'workflow_not_found', 'topic_not_found'],
    body: EVENT,
  },
  'POST /v1/events/bulk': {
    summary: 'Trigger up to 1000 events, each answered on its own',
    tag: 'Events',
    success: { 202: { description: 'one result per event', schema: B.BulkResult } },
    errors: ['idempotency_key_reused'],
    bulkItems: { property: 'events', schema: EventBody },
    body: {
      events: [
        { ...EVENT, idempotencyKey: 'bulk-ada', data: { name: 'Ada' } },
        {
          workflow: 'welcome',
          to: [{ subscriberId: 'grace', email: 'grace@example.com' }],
          data: { name: 'Grace' },
        },
      ],
    },
  },
  'GET /v1/events/{eventId}': {
    summary: 'An event, its messages and their timelines',
    tag: 'Events',
    success: ok(B.EventView, 'the event', EVENT_VIEW),
    errors: NOT_FOUND,
  },
  'DELETE /v1/events/{eventId}': {
    summary: 'Cancel what is not sent yet of one event',
    tag: 'Events',
    success: ok(
      B.EventCancelled,
      'cancelled; or `completed` when all its work was done and nothing was left to stop',
    ),
    errors: NOT_FOUND,
  },
  'DELETE /v1/events': {
    summary: 'Cancel every event with this cancellation key',
    tag: 'Events',
    success: ok(B.EventsCancelled, 'cancelled (0 when none matched)', {
      cancellationKey: 'order-1234',
      cancelledEvents: 2,
      cancelledMessages: 3,
    }),
    query: { cancellationKey: 'order-1234' },
  },
  'GET /v1/messages': {
    summary: 'List messages, newest first',
    tag: 'Messages',
    success: ok(
      B.Page(B.MessageView),
      'a page of messages (fewer than `limit` when their contents are large: about 1 MB of them a page)',
      { items: [MESSAGE_VIEW], nextCursor: null },
    ),
    query: { subscriberId: 'ada', limit: '10' },
  },
  'GET /v1/messages/{messageId}': {
    summary: 'A message and its timeline',
    tag: 'Messages',
    success: ok(B.MessageView, 'the message', MESSAGE_VIEW),
    errors: NOT_FOUND,
  },
  'GET /v1/dead-letters': {
    summary: 'Messages that failed every retry',
    tag: 'Messages',
    success: ok(
      B.Page(B.MessageView),
      'a page of dead messages (fewer than `limit` when their contents are large: about 1 MB of them a page)',
    ),
    query: { limit: '10' },
  },
  'POST /v1/dead-letters/{messageId}/replay': {
    summary: 'Send a dead message again',
    tag: 'Messages',
    success: { 202: { description: 'queued again', schema: B.ReplayQueued } },
    errors: ['not_found', 'conflict'],
  },
  'GET /v1/sandbox/messages': {
    summary: 'What the sandbox provider captured instead of sending',
    tag: 'Messages',
    success: ok(
      B.SandboxCaptures,
      'a page of captured messages, newest first (fewer than `limit` when their contents are large: about 1 MB of them a page)',
    ),
    query: { channel: 'email', limit: '5' },
  },
  'POST /v1/messages/{messageId}/receipt': {
    summary: 'Report that a message was delivered, read or clicked',
    tag: 'Messages',
    success: ok(B.ReceiptAnswer, 'the message status after the receipt'),
    // 409: the message did not go out (failed, cancelled, …), and a receipt does not revive it.
    errors: ['not_found', 'conflict'],
  },
  'PUT /v1/integrations/{integrationId}': {
    summary: 'Create or replace a provider integration',
    tag: 'Integrations',
    success: ok(B.IntegrationView, 'the integration (credentials are never returned)'),
    errors: ['credentials_required', 'blocked_target', 'unprocessable'],
    params: { integrationId: 'email-sandbox' },
    body: { channel: 'email', provider: 'sandbox', priority: 10 },
  },
  'GET /v1/integrations/{integrationId}': {
    summary: 'Read an integration and its circuit breaker',
    tag: 'Integrations',
    success: ok(B.IntegrationView, 'the integration'),
    errors: NOT_FOUND,
    params: { integrationId: 'email-sandbox' },
  },
  'GET /v1/integrations': {
    summary: 'List integrations',
    tag: 'Integrations',
    success: ok(B.Page(B.IntegrationView), 'every integration'),
  },
  'GET /v1/settings': {
    summary: "The tenant's settings",
    tag: 'Settings',
    success: ok(B.SettingsView, 'the settings'),
  },
  'PATCH /v1/settings': {
    summary: "Change the tenant's settings",
    tag: 'Settings',
    success: ok(B.SettingsView, 'the settings after the change'),
    body: { defaultTimezone: 'Europe/Berlin', dailyCap: { perSubscriber: 20 } },
  },
  'GET /v1/inbox': {
    summary: "The subscriber's inbox, newest first",
    tag: 'Inbox',
    success: ok(
      B.Page(B.InboxItem),
      'a page of items, newest first (fewer than `limit` when their contents are large: about 1 MB of them a page)',
      { items: [INBOX_ITEM], nextCursor: null },
    ),
    query: { limit: '20' },
  },
  'GET /v1/inbox/unread-count': {
    summary: 'Unread items (and per tab with tabs=true)',
    tag: 'Inbox',
    success: ok(B.UnreadCount, 'the counts', { count: 3, tabs: { social: 2 } }),
  },
  'POST /v1/inbox/{itemId}/read': {
    summary: 'Mark an item read',
    tag: 'Inbox',
    success: ok(B.InboxItem, 'the item'),
    errors: NOT_FOUND,
  },
  'POST /v1/inbox/{itemId}/unread': {
    summary: 'Mark an item unread',
    tag: 'Inbox',
    success: ok(B.InboxItem, 'the item'),
    errors: NOT_FOUND,
  },
  'POST /v1/inbox/{itemId}/archive': {
    summary: 'Archive an item',
    tag: 'Inbox',
    success: ok(B.InboxItem, 'the item'),
    errors: NOT_FOUND,
  },
  'POST /v1/inbox/{itemId}/click': {
    summary: 'Record a click on an item or one of its actions; answers the URL to open',
    tag: 'Inbox',
    success: ok(B.InboxClicked, 'the URL and the item'),
    errors: ['not_found', 'unprocessable'],
  },
  'POST /v1/inbox/{itemId}/snooze': {
    summary: 'Hide an item until a time',
    tag: 'Inbox',
    success: ok(B.InboxItem, 'the item'),
    errors: NOT_FOUND,
  },
  'POST /v1/inbox/read-all': {
    summary: 'Mark every item read',
    tag: 'Inbox',
    success: ok(B.InboxUpdated, 'how many changed'),
  },
  'POST /v1/inbox/seen-all': {
    summary: 'Mark every item seen',
    tag: 'Inbox',
    success: ok(B.InboxUpdated, 'how many changed'),
  },
  'GET /v1/inbox/stream': {
    summary: 'Live inbox changes as Server-Sent Events (token as header or ?token=)',
    tag: 'Inbox',
    success: { 200: { description: 'ready, item.created, item.updated, …', media: 'text/event-stream' } },
    // No room for another stream: the tenant's share while the server is busy, or the server's.
    errors: ['rate_limited', 'unavailable'],
    readByHand: [STREAM_TOKEN, STREAM_AFTER, LAST_EVENT_ID],
  },
  'GET /v1/inbox/ws': {
    summary:
      'Live inbox changes over a WebSocket (send Upgrade: websocket; token as header, ?token= or a first {"type": "auth", "token"} message)',
    tag: 'Inbox',
    success: {
      101: {
        description:
          'switching protocols: the events of /v1/inbox/stream as JSON messages; the client may send {"type": "read"|"archive"|"seen", "itemId"} and {"type": "read-all"}',
      },
    },
    // 403: an Origin outside TIDINGS_CORS_ORIGINS (browsers do not apply CORS to WebSockets).
    errors: ['forbidden', 'upgrade_required', 'rate_limited', 'unavailable'],
    readByHand: [STREAM_TOKEN, STREAM_AFTER],
  },
  'GET /inbox.js': {
    summary: 'The <tidings-inbox> element and its realtime client (a plain ES module)',
    tag: 'Inbox',
    success: {
      200: { description: 'the module, with an ETag (docs/inbox-element.md)', media: 'text/javascript' },
      304: { description: 'not modified: If-None-Match named the current ETag' },
    },
  },
  'GET /v1/preferences-page': {
    summary: 'The subscriber’s own preference page (?token= a subscriber token or a links.preferences token)',
    tag: 'Preference page',
    success: { 200: { description: 'the page (HTML)', media: 'text/html' } },
    pages: {
      401: 'a page: the token is bad or expired',
      404: 'a page: the subscriber no longer exists',
    },
  },
  'POST /v1/preferences-page': {
    summary: 'Save the preference form (form-encoded, token in the body)',
    tag: 'Preference page',
    success: { 303: { description: 'saved: Location leads back to the page' } },
    pages: {
      400: 'a page: the form is not one the page sends, or a field holds what it cannot',
      401: 'a page: the token is bad or expired',
      403: 'a page: the form was posted from another site',
      404: 'a page: the subscriber no longer exists',
    },
  },
  'GET /v1/unsubscribe/{token}': {
    summary: 'The one-click unsubscribe page of an email link',
    tag: 'Unsubscribe',
    success: { 200: { description: 'an HTML page with the unsubscribe button', media: 'text/html' } },
    errors: NOT_FOUND,
  },
  'POST /v1/unsubscribe/{token}': {
    summary: 'Unsubscribe (RFC 8058 List-Unsubscribe=One-Click)',
    tag: 'Unsubscribe',
    success: { 200: { description: 'an HTML page confirming it', media: 'text/html' } },
    errors: NOT_FOUND,
  },
  'GET /v1/t/o/{token}': {
    summary: 'The open pixel of a tracked email (records read)',
    tag: 'Tracking',
    success: {
      200: {
        description:
          'a 1×1 transparent GIF, never cached; answered for any token, and only a signed one records read',
        media: 'image/gif',
      },
    },
  },
  'GET /v1/t/c/{token}': {
    summary: 'A tracked link of an email (records clicked, then redirects)',
    tag: 'Tracking',
    success: {
      302: {
        description:
          'Location: the link’s own URL (`u`, signed together with the token); clicked is recorded',
      },
    },
    errors: NOT_FOUND,
  },
  'PUT /v1/webhook-endpoints/{endpointId}': {
    summary: 'Create or change a status webhook endpoint',
    tag: 'Webhook endpoints',
    success: {
      201: {
        description: 'created: the signing secret is shown this once',
        schema: B.WebhookEndpointCreated,
      },
      200: { description: 'changed (the secret stays)', schema: B.WebhookEndpointView },
    },
    errors: ['blocked_target', 'unprocessable'],
    params: { endpointId: 'crm' },
    body: { url: 'https://hooks.example.com/tidings', events: ['message.delivered', 'message.failed'] },
  },
  'GET /v1/webhook-endpoints/{endpointId}': {
    summary: 'Read a webhook endpoint',
    tag: 'Webhook endpoints',
    success: ok(B.WebhookEndpointView, 'the endpoint'),
    errors: NOT_FOUND,
    params: { endpointId: 'crm' },
  },
  'GET /v1/webhook-endpoints': {
    summary: 'List webhook endpoints',
    tag: 'Webhook endpoints',
    success: ok(B.Page(B.WebhookEndpointView), 'every endpoint (one page: at most 20)'),
  },
  'POST /v1/webhook-endpoints/{endpointId}/rotate': {
    summary: 'Rotate the signing secret (the old one stays valid for 24 h)',
    tag: 'Webhook endpoints',
    success: ok(B.WebhookEndpointRotated, 'the new secret, shown this once'),
    errors: ['not_found', 'conflict'],
    params: { endpointId: 'crm' },
  },
  'POST /v1/webhook-endpoints/{endpointId}/test': {
    summary: 'Queue a signed test event (webhook.ping) to the endpoint',
    tag: 'Webhook endpoints',
    success: { 202: { description: 'queued', schema: B.WebhookTestQueued } },
    // 429: at most TEST_PINGS_PER_MINUTE a minute per tenant (src/api/routes/webhook-endpoints.ts).
    errors: ['not_found', 'conflict', 'rate_limited'],
    params: { endpointId: 'crm' },
  },
  'DELETE /v1/webhook-endpoints/{endpointId}': {
    summary: 'Remove a webhook endpoint',
    tag: 'Webhook endpoints',
    success: NO_CONTENT,
    errors: NOT_FOUND,
    params: { endpointId: 'crm' },
  },
  'POST /v1/providers/{integrationId}/webhook': {
    summary: "A provider's delivery callback (Twilio, SES via SNS, SendGrid), checked by its signature",
    tag: 'Integrations',
    success: { 200: { description: 'taken: the answer the provider expects', media: 'text/plain' } },
    // An unknown integration id is refused as an unsigned callback is (401), never 404. A body
    // over what providers send is a 413; refused signatures count toward the failed-auth 429.
    errors: ['unauthorized', 'unavailable', 'payload_too_large', 'too_many_failed_attempts'],
  },
  'POST /v1/tenants': {
    summary: 'Create a tenant and its first key',
    tag: 'Tenants',
    success: { 201: { description: 'created: the key is shown this once', schema: B.TenantCreated } },
    errors: NOT_FOUND,
  },
  'GET /v1/tenants': {
    summary: 'List tenants',
    tag: 'Tenants',
    success: ok(B.Page(B.TenantView), 'a page of tenants'),
    errors: NOT_FOUND,
  },
  'POST /v1/tenants/{tenantId}/keys': {
    summary: 'Add an API key to a tenant',
    tag: 'Tenants',
    success: { 201: { description: 'created: the key is shown this once', schema: B.KeyCreated } },
    // The default tenant's label `default` is TIDINGS_API_KEY's, replaced at every start.
    errors: [...NOT_FOUND, 'unprocessable'],
  },
  'GET /v1/tenants/{tenantId}/keys': {
    summary: "A tenant's keys (prefixes only, never the secrets)",
    tag: 'Tenants',
    success: ok(B.Page(B.KeyView), 'the keys'),
    errors: NOT_FOUND,
  },
  'DELETE /v1/tenants/{tenantId}/keys/{keyId}': {
    summary: 'Revoke a key',
    tag: 'Tenants',
    success: NO_CONTENT,
    errors: NOT_FOUND,
  },
  'GET /v1/subscribers': {
    summary: 'List subscribers, in id order',
    tag: 'Subscribers',
    success: ok(B.Page(B.SubscriberView), 'a page of subscribers'),
    query: { limit: '10' },
  },
  'POST /v1/subscribers/bulk': {
    summary: 'Create or update up to 1000 subscribers, each answered on its own',
    tag: 'Subscribers',
    success: {
      202: { description: 'one result per subscriber, in request order', schema: B.BulkSubscribers },
    },
    bulkItems: { property: 'subscribers', schema: InlineSubscriber },
    body: {
      subscribers: [
        { subscriberId: 'ada', email: 'ada@example.com' },
        { subscriberId: 'grace', email: 'grace@example.com', timezone: 'America/New_York' },
      ],
    },
  },
  'DELETE /v1/workflows/{key}': {
    summary: 'Delete a workflow: new events for it answer 422, what waits is cancelled',
    tag: 'Workflows',
    success: ok(B.WorkflowDeleted, 'deleted'),
    errors: NOT_FOUND,
  },
  'DELETE /v1/integrations/{integrationId}': {
    summary: 'Delete an integration (sends use the remaining ones, or the sandbox)',
    tag: 'Integrations',
    success: NO_CONTENT,
    errors: NOT_FOUND,
  },
  'GET /v1/topics': {
    summary: 'List topics, in key order',
    tag: 'Topics',
    success: ok(B.Page(B.TopicView), 'a page of topics'),
    query: { limit: '10' },
  },
  'GET /v1/topics/{key}/subscribers': {
    summary: "A topic's subscribers, in id order",
    tag: 'Topics',
    success: ok(B.Page(B.TopicMember), 'a page of members'),
    errors: NOT_FOUND,
    params: { key: 'release-notes' },
    query: { limit: '10' },
  },
  'DELETE /v1/topics/{key}': {
    summary: 'Delete a topic (its subscribers stay)',
    tag: 'Topics',
    success: NO_CONTENT,
    errors: NOT_FOUND,
  },
};
