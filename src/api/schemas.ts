import Type, { type Static } from 'typebox';
import {
  CLOCK_TIME_MESSAGE,
  CLOCK_TIME_PATTERN,
  DisplayName,
  DURATION_MESSAGE,
  DURATION_PATTERN,
  FORBIDDEN_IN_ANY_ID,
  ID_MAX_LENGTH,
  Id,
  SubscriberFields,
} from '../ingest/fields.ts';
import { CHANNELS, DEVICE_PLATFORMS, LANES, MESSAGE_STATUSES, RATE_LIMIT_PER } from '../shared/model.ts';
import { PatternRecord, PatternString } from '../shared/pattern-schemas.ts';
import { LOCALE_KEY_MESSAGE, LOCALE_KEY_PATTERN } from '../templates/locale.ts';
import { MESSAGE_KEY_MESSAGE, MESSAGE_KEY_PATTERN } from '../templates/messages.ts';
import { ENDPOINT_EVENT_TYPES } from '../webhooks/events.ts';
import { CURSOR_MAX_LENGTH } from './cursors.ts';

/** Request schemas of the HTTP API. They validate requests and document them in /openapi.json. */

export { Id };
export const Channel = Type.Enum([...CHANNELS]);

export const IdParams = (name: string) => Type.Object({ [name]: Id });

export const SubscriberBody = Type.Object(SubscriberFields, { additionalProperties: false });
export type SubscriberBody = Static<typeof SubscriberBody>;

/**
 * A device: `token` for apns and fcm, `subscription` (a PushSubscription's toJSON()) for webpush.
 * The shape is checked here, the rules of each platform in device-input.ts.
 */
export const DeviceBody = Type.Object(
  {
    platform: Type.Enum([...DEVICE_PLATFORMS]),
    token: Type.Optional(
      Type.String({
        maxLength: 4096,
        description: 'apns: 64–200 hex characters; fcm: the registration token',
      }),
    ),
    subscription: Type.Optional(
      Type.Object(
        {
          endpoint: Type.String({ maxLength: 2048, description: 'https URL of the push service' }),
          keys: Type.Object(
            {
              p256dh: Type.String({ maxLength: 200, description: 'base64url, 65 bytes' }),
              auth: Type.String({ maxLength: 100, description: 'base64url, 16 bytes' }),
            },
            { additionalProperties: false },
          ),
          expirationTime: Type.Optional(
            Type.Union([Type.Number(), Type.Null()], {
              description: 'accepted as toJSON() gives it; not used',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const TopicBody = Type.Object(
  { name: Type.Optional(DisplayName(200)) },
  { additionalProperties: false },
);
export const TopicMembersBody = Type.Object(
  { subscriberIds: Type.Array(Id, { minItems: 1, maxItems: 10_000 }) },
  { additionalProperties: false },
);

// A name outside the pattern (`__proto__`, `_x`, `a.b`) is refused, not kept or silently dropped.
const TemplateFields = PatternRecord(
  PatternString('^[A-Za-z][A-Za-z0-9_]*$', "must be a letter (A–Z, a–z) followed by letters, digits or '_'"),
  Type.String({ maxLength: 100_000 }),
  {
    additionalProperties: false,
    description:
      'Liquid template text per field. Push and web push steps also take `badge` as a number and `data` as a JSON object (each kept as its text; `data` renders value by value)',
  },
);
/**
 * A key of `locales` and `messages`: a BCP 47 tag of at most 64 characters. TypeBox keeps only a
 * record key's pattern (a bare `minLength`/`maxLength` left any key through), so the rule is the
 * pattern; whether the key is a tag is checked at PUT (byCanonicalTag), in the same words.
 */
const LocaleKey = PatternString(LOCALE_KEY_PATTERN, LOCALE_KEY_MESSAGE);
/** A template's fields per BCP 47 tag, over the default ones. */
const Locales = PatternRecord(LocaleKey, TemplateFields, {
  additionalProperties: false,
  maxProperties: 50,
  description: 'fields per BCP 47 tag ("es", "es-MX"), over the default template',
});
/** What inbox items show of the event data: all of it (default), none, or these top-level keys. */
const InboxData = Type.Union(
  [
    Type.Enum(['all', 'none']),
    Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 50, uniqueItems: true }),
  ],
  { description: '"all" (default), "none", or up to 50 top-level keys of the event data' },
);
const Duration = PatternString(DURATION_PATTERN, DURATION_MESSAGE, {
  description: 'e.g. "90s", "10m", "2h", "1d"',
});

/** A window: a duration of at least 1 ms, whose bounds each field checks at PUT. */
const WINDOW_MESSAGE =
  'must be a duration above zero: a whole number and a unit (ms, s, m, h or d), such as "90s", "10m", "2h" or "1d"';

/** A workflow's default per channel, e.g. {"email": false}: off until the subscriber opts in. */
const DefaultChannelChoices = Type.Object(
  Object.fromEntries(CHANNELS.map((channel) => [channel, Type.Optional(Type.Boolean())])),
  { additionalProperties: false },
);

/** Longest workflow name (a display name: see DisplayName). */
export const WORKFLOW_NAME_MAX_LENGTH = 200;

/**
 * A workflow's category: what a subscriber opts out of by name (preferences' `categories` keys),
 * so it holds no character a preference key refuses, and no space at either end — "transactional "
 * would read as the exempt category and be none.
 */
export const WORKFLOW_CATEGORY_PATTERN = `^(?!\\s)[^${FORBIDDEN_IN_ANY_ID}]{1,64}(?<!\\s)$`;
export const WORKFLOW_CATEGORY_MESSAGE =
  'must be 1–64 characters without control characters or bidi overrides, not starting or ending with whitespace';
const WorkflowCategory = PatternString(WORKFLOW_CATEGORY_PATTERN, WORKFLOW_CATEGORY_MESSAGE, {
  description: '1–64 characters, no control or bidi characters, no whitespace at either end',
});

export const WorkflowBody = Type.Object(
  {
    name: Type.Optional(DisplayName(WORKFLOW_NAME_MAX_LENGTH)),
    defaultLocale: Type.Optional(
      Type.String({
        format: 'bcp47-locale',
        maxLength: 64,
        description: 'the last resort locale, "en" unless set',
      }),
    ),
    messages: Type.Optional(
      PatternRecord(
        LocaleKey,
        PatternRecord(
          PatternString(MESSAGE_KEY_PATTERN, MESSAGE_KEY_MESSAGE),
          Type.String({ maxLength: 10_000 }),
          { additionalProperties: false },
        ),
        {
          additionalProperties: false,
          description: 'ICU MessageFormat strings per locale and key, used as {{ "key" | t: name: value }}',
        },
      ),
    ),
    category: Type.Optional(WorkflowCategory),
    priority: Type.Optional(Type.Enum([...LANES])),
    quietHours: Type.Optional(Type.Enum(['bypass', 'respect'])),
    paused: Type.Optional(Type.Boolean()),
    channels: Type.Array(
      Type.Object(
        {
          channel: Channel,
          template: Type.Optional(TemplateFields),
          locales: Type.Optional(Locales),
          layout: Type.Optional(Id),
          replyTo: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 1000,
              description:
                'email steps: the Reply-To, an address or "Name <address>" (a Liquid template); a template\'s own replyTo field wins',
            }),
          ),
          variants: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  name: PatternString(
                    '^[A-Za-z0-9_-]{1,40}$',
                    "must be 1–40 characters: letters (A–Z, a–z), digits, '_' or '-'",
                  ),
                  weight: Type.Integer({ minimum: 0, maximum: 10_000 }),
                  template: TemplateFields,
                  locales: Type.Optional(Locales),
                },
                { additionalProperties: false },
              ),
              {
                minItems: 2,
                maxItems: 10,
                description: 'an A/B test instead of template: each subscriber always gets the same variant',
              },
            ),
          ),
          fallback: Type.Optional(
            Type.Object(
              { after: Duration, unless: Type.Enum(['delivered', 'read', 'clicked']) },
              { additionalProperties: false },
            ),
          ),
          if: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 1000,
              description:
                'a Liquid expression over data, subscriber, actor, e.g. "data.amount > 100"; false skips the step',
            }),
          ),
          skipIfOnline: Type.Optional(
            Type.Boolean({
              description:
                'push, webpush, sms, email: suppressed (reason online) while the subscriber has a live inbox connection',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 20 },
    ),
    rateLimit: Type.Optional(
      Type.Array(
        Type.Object(
          {
            per: Type.Enum([...RATE_LIMIT_PER]),
            limit: Type.Integer({ minimum: 1 }),
            // At least 1 ms: a zero window could count nothing.
            // At most 366d: checked at PUT (400 naming rateLimit[i].window).
            window: PatternString('^0*[1-9]\\d*(ms|s|m|h|d)$', WINDOW_MESSAGE, {
              maxLength: 20,
              description: 'from "1ms" to "366d", e.g. "1h"',
            }),
          },
          { additionalProperties: false },
        ),
        // Each rule is a counter per recipient and event on the delivery path: a handful is plenty.
        { maxItems: 10 },
      ),
    ),
    digest: Type.Optional(
      Type.Object(
        {
          // From 1 s to 7 d: the bounds are checked at PUT (400 naming digest.window).
          window: PatternString('^0*[1-9]\\d*(ms|s|m|h|d)$', WINDOW_MESSAGE, {
            maxLength: 20,
            description: 'from "1s" to "7d", e.g. "10m"',
          }),
          key: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 1000,
              description:
                'a Liquid template over data, subscriber, actor, e.g. "{{ data.thread_id }}"; absent: one digest per subscriber',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    inboxData: Type.Optional(InboxData),
    defaultPreferences: Type.Optional(
      Type.Object(
        { channels: Type.Optional(DefaultChannelChoices) },
        {
          additionalProperties: false,
          description:
            'Choices for subscribers who made none of their own, e.g. {"channels": {"email": false}}',
        },
      ),
    ),
    tracking: Type.Optional(
      Type.Object(
        {
          opens: Type.Optional(
            Type.Boolean({ description: 'a signed 1×1 pixel records read (default false)' }),
          ),
          clicks: Type.Optional(
            Type.Boolean({
              description: 'http(s) links go through Tidings and record clicked (default false)',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'Email only (docs/tracking.md): open and click tracking in the HTML part, both off unless set',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type WorkflowBody = Static<typeof WorkflowBody>;

export const IntegrationBody = Type.Object(
  {
    channel: Channel,
    provider: Type.String({ minLength: 1, maxLength: 64 }),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    enabled: Type.Optional(Type.Boolean()),
    config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    credentials: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    // null: no limit, as GET shows an integration without one (so what GET shows can be sent back).
    rateLimit: Type.Optional(
      Type.Union([
        Type.Object(
          {
            // Whole milliseconds between sends: beyond 1000 per second there is no slot to give.
            perSecond: Type.Integer({ minimum: 1, maximum: 1000 }),
          },
          { additionalProperties: false, description: 'sends beyond it wait for a slot; none is dropped' },
        ),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false },
);
export type IntegrationBody = Static<typeof IntegrationBody>;

/** An outbound status webhook endpoint (API.md "Receipts, feedback, unsubscribe"). */
export const WebhookEndpointBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL receiving signed POSTs' }),
    events: Type.Array(Type.Enum([...ENDPOINT_EVENT_TYPES]), { minItems: 1, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type WebhookEndpointBody = Static<typeof WebhookEndpointBody>;

export const Limit = (max: number, fallback: number) =>
  Type.Integer({ minimum: 1, maximum: max, default: fallback });

export const MessageQuery = Type.Object(
  {
    subscriberId: Type.Optional(Id),
    eventId: Type.Optional(Id),
    channel: Type.Optional(Channel),
    status: Type.Optional(Type.Enum([...MESSAGE_STATUSES])),
    cursor: Type.Optional(Type.String({ maxLength: CURSOR_MAX_LENGTH })),
    limit: Type.Optional(Limit(200, 50)),
  },
  { additionalProperties: false },
);
export type MessageQuery = Static<typeof MessageQuery>;

/**
 * `?token=` on the inbox's plain routes: taken so a client that sends it everywhere is not refused,
 * but never read — only the streams authenticate by query (API.md); these need the header.
 */
const InboxTokenNotRead = Type.String({
  description: 'not read: send the subscriber token as Authorization: Bearer (only the streams take ?token=)',
});

export const InboxQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: CURSOR_MAX_LENGTH })),
    limit: Type.Optional(Limit(100, 20)),
    archived: Type.Optional(Type.Boolean()),
    status: Type.Optional(Type.Enum(['unread', 'read', 'all'], { description: 'default all' })),
    category: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "a workflow's category" }),
    ),
    tab: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "a tab of the settings' inboxTabs" }),
    ),
    token: Type.Optional(InboxTokenNotRead),
  },
  { additionalProperties: false },
);
export type InboxQuery = Static<typeof InboxQuery>;

export const UnreadCountQuery = Type.Object(
  {
    tabs: Type.Optional(Type.Boolean({ description: "also count per tab of the settings' inboxTabs" })),
    token: Type.Optional(InboxTokenNotRead),
  },
  { additionalProperties: false },
);
export type UnreadCountQuery = Static<typeof UnreadCountQuery>;

export const InboxClickBody = Type.Object(
  {
    action: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: 1 }), Type.String({ minLength: 1, maxLength: 200 })], {
        description:
          "which of the item's actions: its index (0 or 1) or its label; absent: the item's actionUrl",
      }),
    ),
  },
  { additionalProperties: false },
);
export type InboxClickBody = Static<typeof InboxClickBody>;

export const InboxSnoozeBody = Type.Object(
  {
    until: Type.String({ format: 'date-time', description: 'ISO 8601; in the future, at most 1 year ahead' }),
  },
  { additionalProperties: false },
);
export type InboxSnoozeBody = Static<typeof InboxSnoozeBody>;

/** `expiresIn`: a duration string from "1s" to "7d" (API.md), or a whole number of seconds (1…604800). */
export const TokenBody = Type.Object(
  {
    expiresIn: Type.Optional(
      Type.Union([
        PatternString(
          '^\\d+(s|m|h|d)$',
          'must be a duration: a whole number and a unit (s, m, h or d), such as "15m", "1h" or "7d"',
          { maxLength: 12, description: 'e.g. "15m", "1h", "7d"' },
        ),
        Type.Integer({ minimum: 1, maximum: 7 * 86_400, description: 'seconds' }),
      ]),
    ),
  },
  { additionalProperties: false },
);

/** On (true), off (false), or null: the choice is withdrawn and the defaults apply again. */
const ChannelChoice = Type.Union([Type.Boolean(), Type.Null()]);
const ChannelChoices = Type.Object(
  Object.fromEntries(CHANNELS.map((channel) => [channel, Type.Optional(ChannelChoice)])),
  { additionalProperties: false, description: 'per channel: true (on), false (off) or null (no choice)' },
);
// Record keys are checked by pattern alone, so the length limits live in the patterns.
const CategoryName = PatternString(
  `^[^${FORBIDDEN_IN_ANY_ID}]{1,64}$`,
  'must be 1–64 characters without control characters or bidi overrides',
);
const WorkflowKey = PatternString(
  `^(?!\\.\\.?$)[^${FORBIDDEN_IN_ANY_ID}]{1,${ID_MAX_LENGTH}}$`,
  `must be 1–${ID_MAX_LENGTH} characters, not "." or "..", without control characters or bidi overrides`,
);
const ClockTime = PatternString(CLOCK_TIME_PATTERN, CLOCK_TIME_MESSAGE, { description: '`HH:MM`, 24 h' });
/** Most categories or workflows one PATCH may name. */
export const PREFERENCE_KEYS_PER_PATCH = 100;

export const PreferencesBody = Type.Object(
  {
    channels: Type.Optional(ChannelChoices),
    categories: Type.Optional(
      PatternRecord(CategoryName, Type.Union([ChannelChoices, Type.Null()]), {
        additionalProperties: false,
        maxProperties: PREFERENCE_KEYS_PER_PATCH,
        description: 'per category (1–64 characters): channel choices, or null to withdraw them all',
      }),
    ),
    workflows: Type.Optional(
      PatternRecord(
        WorkflowKey,
        Type.Union([Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }), Type.Null()]),
        {
          additionalProperties: false,
          maxProperties: PREFERENCE_KEYS_PER_PATCH,
          description: 'per workflow key: {"enabled": false} turns it off; null withdraws the choice',
        },
      ),
    ),
    quietHours: Type.Optional(
      Type.Union([
        Type.Object({ start: ClockTime, end: ClockTime }, { additionalProperties: false }),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false },
);

/** The highest `dailyCap.perSubscriber` a tenant may set. */
export const DAILY_CAP_MAX = 100_000;

export const SettingsBody = Type.Object(
  {
    defaultTimezone: Type.Optional(
      Type.String({ format: 'iana-time-zone', maxLength: 64, description: 'e.g. Asia/Tokyo' }),
    ),
    dailyCap: Type.Optional(
      Type.Union(
        [
          Type.Object(
            {
              perSubscriber: Type.Integer({
                minimum: 1,
                maximum: DAILY_CAP_MAX,
                description: 'notifications per subscriber per day, across workflows',
              }),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ],
        { description: 'transactional and security workflows are exempt; null removes the cap' },
      ),
    ),
    inboxTabs: Type.Optional(
      PatternRecord(
        PatternString(
          '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
          "must be 1–64 characters: letters (A–Z, a–z), digits, '_', '.' or '-', the first a letter or digit",
        ),
        Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
          minItems: 1,
          maxItems: 50,
          uniqueItems: true,
        }),
        {
          additionalProperties: false,
          maxProperties: 20,
          description:
            'tab name → the workflow categories it shows, e.g. {"social": ["social"]}; replaces all tabs',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
