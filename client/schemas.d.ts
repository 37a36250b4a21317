// Generated from the server's TypeBox request schemas by `npm run client:types`: do not edit.

export type TriggerInput = {
  /** 1–100 characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path) */
  workflow: string;
  to: Array<string | {
    /** 1–100 characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path) */
    subscriberId: string;
    email?: string | null;
    phone?: string | null;
    locale?: string | null;
    timezone?: string | null;
    /** custom fields: a JSON object of at most 65536 bytes as JSON (UTF-8) */
    data?: Record<string, unknown>;
  } | {
    /** 1–100 characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path) */
    topic: string;
  }>;
  data?: Record<string, unknown>;
  /** 1–100 characters; no control or bidi-override characters */
  idempotencyKey?: string;
  /** 1–100 characters; no control or bidi-override characters */
  cancellationKey?: string;
  priority?: "critical" | "high" | "normal" | "bulk";
  sendAt?: string;
  actor?: string;
  /** renders every recipient in this locale instead of each one's own */
  locale?: string;
  /** Deliver at the next localTime in each recipient's time zone (the tenant's defaultTimezone for recipients without one), at or after sendAt when the event has one */
  schedule?: {
    /** HH:MM (00:00–23:59) on each recipient's own clock */
    localTime: string;
    /** a duration from 0s to 24h: recipients are spread over this window */
    spreadOver?: string;
  };
};

export type SubscriberFields = {
  email?: string | null;
  phone?: string | null;
  locale?: string | null;
  timezone?: string | null;
  /** custom fields: a JSON object of at most 65536 bytes as JSON (UTF-8) */
  data?: Record<string, unknown>;
};

export type BulkSubscriber = {
  /** 1–100 characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path) */
  subscriberId: string;
  email?: string | null;
  phone?: string | null;
  locale?: string | null;
  timezone?: string | null;
  /** custom fields: a JSON object of at most 65536 bytes as JSON (UTF-8) */
  data?: Record<string, unknown>;
};

export type DeviceInput = {
  platform: "apns" | "fcm" | "webpush";
  /** apns: 64–200 hex characters; fcm: the registration token */
  token?: string;
  subscription?: {
    /** https URL of the push service */
    endpoint: string;
    keys: {
      /** base64url, 65 bytes */
      p256dh: string;
      /** base64url, 16 bytes */
      auth: string;
    };
    /** accepted as toJSON() gives it; not used */
    expirationTime?: number | null;
  };
};

export type PreferencesPatch = {
  /** per channel: true (on), false (off) or null (no choice) */
  channels?: {
    in_app?: boolean | null;
    email?: boolean | null;
    sms?: boolean | null;
    push?: boolean | null;
    webpush?: boolean | null;
    chat?: boolean | null;
    webhook?: boolean | null;
  };
  /** per category (1–64 characters): channel choices, or null to withdraw them all */
  categories?: Record<string, {
    in_app?: boolean | null;
    email?: boolean | null;
    sms?: boolean | null;
    push?: boolean | null;
    webpush?: boolean | null;
    chat?: boolean | null;
    webhook?: boolean | null;
  } | null>;
  /** per workflow key: {"enabled": false} turns it off; null withdraws the choice */
  workflows?: Record<string, {
    enabled: boolean;
  } | null>;
  quietHours?: {
    /** `HH:MM`, 24 h */
    start: string;
    /** `HH:MM`, 24 h */
    end: string;
  } | null;
};

export type TopicFields = {
  /** not blank, at most 200 characters; no control or bidi formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) */
  name?: string;
};

export type TopicMembers = {
  subscriberIds: string[];
};

export type WorkflowDefinition = {
  /** not blank, at most 200 characters; no control or bidi formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) */
  name?: string;
  /** the last resort locale, "en" unless set */
  defaultLocale?: string;
  /** ICU MessageFormat strings per locale and key, used as {{ "key" | t: name: value }} */
  messages?: Record<string, Record<string, string>>;
  /** 1–64 characters, no control or bidi characters, no whitespace at either end */
  category?: string;
  priority?: "critical" | "high" | "normal" | "bulk";
  quietHours?: "bypass" | "respect";
  paused?: boolean;
  channels: Array<{
    channel: "in_app" | "email" | "sms" | "push" | "webpush" | "chat" | "webhook";
    /** Liquid template text per field. Push and web push steps also take `badge` as a number and `data` as a JSON object (each kept as its text; `data` renders value by value) */
    template?: Record<string, string>;
    /** fields per BCP 47 tag ("es", "es-MX"), over the default template */
    locales?: Record<string, Record<string, string>>;
    /** 1–100 characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path) */
    layout?: string;
    /** email steps: the Reply-To, an address or "Name <address>" (a Liquid template); a template's own replyTo field wins */
    replyTo?: string;
    /** an A/B test instead of template: each subscriber always gets the same variant */
    variants?: Array<{
      name: string;
      weight: number;
      /** Liquid template text per field. Push and web push steps also take `badge` as a number and `data` as a JSON object (each kept as its text; `data` renders value by value) */
      template: Record<string, string>;
      /** fields per BCP 47 tag ("es", "es-MX"), over the default template */
      locales?: Record<string, Record<string, string>>;
    }>;
    fallback?: {
      /** e.g. "90s", "10m", "2h", "1d" */
      after: string;
      unless: "delivered" | "read" | "clicked";
    };
    /** a Liquid expression over data, subscriber, actor, e.g. "data.amount > 100"; false skips the step */
    if?: string;
    /** push, webpush, sms, email: suppressed (reason online) while the subscriber has a live inbox connection */
    skipIfOnline?: boolean;
  }>;
  rateLimit?: Array<{
    per: "subscriber" | "subscriber+channel" | "tenant";
    limit: number;
    /** from "1ms" to "366d", e.g. "1h" */
    window: string;
  }>;
  digest?: {
    /** from "1s" to "7d", e.g. "10m" */
    window: string;
    /** a Liquid template over data, subscriber, actor, e.g. "{{ data.thread_id }}"; absent: one digest per subscriber */
    key?: string;
  };
  /** "all" (default), "none", or up to 50 top-level keys of the event data */
  inboxData?: "all" | "none" | string[];
  /** Choices for subscribers who made none of their own, e.g. {"channels": {"email": false}} */
  defaultPreferences?: {
    channels?: {
      in_app?: boolean;
      email?: boolean;
      sms?: boolean;
      push?: boolean;
      webpush?: boolean;
      chat?: boolean;
      webhook?: boolean;
    };
  };
  /** Email only (docs/tracking.md): open and click tracking in the HTML part, both off unless set */
  tracking?: {
    /** a signed 1×1 pixel records read (default false) */
    opens?: boolean;
    /** http(s) links go through Tidings and record clicked (default false) */
    clicks?: boolean;
  };
};

export type IntegrationInput = {
  channel: "in_app" | "email" | "sms" | "push" | "webpush" | "chat" | "webhook";
  provider: string;
  priority?: number;
  enabled?: boolean;
  config?: Record<string, unknown>;
  credentials?: Record<string, unknown>;
  rateLimit?: {
    perSecond: number;
  } | null;
};

export type WebhookEndpointInput = {
  /** http(s) URL receiving signed POSTs */
  url: string;
  events: Array<"message.sent" | "message.delivered" | "message.read" | "message.clicked" | "message.failed" | "message.dead" | "message.bounced" | "subscriber.unsubscribed">;
};

export type SettingsPatch = {
  /** e.g. Asia/Tokyo */
  defaultTimezone?: string;
  /** transactional and security workflows are exempt; null removes the cap */
  dailyCap?: {
    /** notifications per subscriber per day, across workflows */
    perSubscriber: number;
  } | null;
  /** tab name → the workflow categories it shows, e.g. {"social": ["social"]}; replaces all tabs */
  inboxTabs?: Record<string, string[]>;
};

export type TokenOptions = {
  expiresIn?: string | number;
};

export type MessageQuery = {
  /** 1–100 characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path) */
  subscriberId?: string;
  /** 1–100 characters, not "." or ".."; no control or bidi-override characters (percent-encoded in a path) */
  eventId?: string;
  channel?: "in_app" | "email" | "sms" | "push" | "webpush" | "chat" | "webhook";
  status?: "queued" | "deferred" | "suppressed" | "rate_limited" | "sending" | "sent" | "delivered" | "read" | "clicked" | "failed" | "bounced" | "dead" | "cancelled";
  cursor?: string;
  limit?: number;
};
