import Type, { type TSchema } from 'typebox';
import { createSmtpProvider } from '../channels/email/smtp.ts';
import type { ChannelProvider, ProviderContext } from '../channels/port.ts';
import { createFcmProvider, FCM_DEFAULT_ENDPOINT } from '../channels/push/fcm.ts';
import { serviceAccountTokenHost } from '../channels/push/fcm-credentials.ts';
import { createWebhookProvider } from '../channels/webhook/webhook.ts';
import { createWebPushProvider } from '../channels/webpush/webpush.ts';
import type { Channel } from '../shared/model.ts';

type Fields = Record<string, unknown>;

/** A host an integration makes Tidings connect to, and the field that names it. */
export interface ProviderTarget {
  path: string;
  host: string;
}

/** One provider Tidings can talk to: which channels it serves and what its config and credentials look like. */
export interface ProviderDefinition {
  channels: readonly Channel[] | 'any';
  config: TSchema;
  credentials: TSchema;
  /** Builds the client offline (never connects); throws ProviderConfigError naming a bad field. */
  create(config: Fields, credentials: Fields, context: ProviderContext): ChannelProvider;
  /**
   * The hosts the config (and credentials, where they name one: FCM's `token_uri`) point at, for
   * the private-target check at `PUT`. `credentials` are the ones the integration will use: given
   * with the `PUT`, or the stored ones.
   */
  targets(config: Fields, credentials: Fields): ProviderTarget[];
  /**
   * True when `after` sends the credentials somewhere `before` did not (another host, port or
   * URL, or less protection on the way): the stored credentials must then be given again.
   */
  retargets(before: Fields, after: Fields): boolean;
}

// A field the schema does not name is refused, never stored: an adapter that later reads a field of
// that name (a timeout, a proxy) must not find a tenant's value waiting for it.
const CLOSED = { additionalProperties: false } as const;

const smtpConfig = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    secure: Type.Optional(Type.Boolean()),
    insecure: Type.Optional(Type.Boolean()),
    from: Type.String({ minLength: 3 }),
    dkim: Type.Optional(
      Type.Object({ domainName: Type.String(), keySelector: Type.String() }, { additionalProperties: false }),
    ),
  },
  CLOSED,
);
const smtpCredentials = Type.Object(
  {
    user: Type.Optional(Type.String()),
    pass: Type.Optional(Type.String()),
    dkimPrivateKey: Type.Optional(Type.String()),
  },
  CLOSED,
);
const webhookConfig = Type.Object({ url: Type.String({ pattern: '^https?://' }) }, CLOSED);
const webhookCredentials = Type.Object({ secret: Type.String({ minLength: 16 }) }, CLOSED);

const fcmConfig = Type.Object(
  {
    // Google project ids: lower-case letters, digits and hyphens (older ones: `domain.com:name`).
    projectId: Type.String({ pattern: '^[a-z0-9][a-z0-9.:-]*$', minLength: 1, maxLength: 100 }),
    endpoint: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
  },
  CLOSED,
);
const fcmCredentials = Type.Object(
  {
    // The key file as Google gives it, or its text; its fields are checked when the client is built.
    serviceAccount: Type.Union([Type.String({ minLength: 1, maxLength: 65_536 }), Type.Object({})]),
  },
  CLOSED,
);
const webpushConfig = Type.Object(
  { subject: Type.String({ pattern: '^(mailto|https):', maxLength: 2048 }) },
  CLOSED,
);
const webpushCredentials = Type.Object(
  {
    vapidPublicKey: Type.String({ minLength: 1, maxLength: 200 }),
    vapidPrivateKey: Type.String({ minLength: 1, maxLength: 200 }),
  },
  CLOSED,
);

const text = (value: unknown) => (typeof value === 'string' ? value : '');
const sameHost = (a: unknown, b: unknown) =>
  text(a).toLowerCase().replace(/\.+$/, '') === text(b).toLowerCase().replace(/\.+$/, '');

function urlHost(url: unknown): string {
  return URL.canParse(text(url)) ? new URL(text(url)).hostname : text(url);
}

/** Providers by name. The sandbox is built in (see ProviderRegistry) and needs no integration. */
export const PROVIDERS: Readonly<Record<string, ProviderDefinition>> = Object.freeze({
  smtp: {
    channels: ['email'],
    config: smtpConfig,
    credentials: smtpCredentials,
    create: (config, credentials, context) =>
      createSmtpProvider(config as never, credentials as never, context),
    targets: (config) => [{ path: 'config.host', host: text(config.host) }],
    retargets: (before, after) =>
      !sameHost(before.host, after.host) ||
      before.port !== after.port ||
      (after.insecure === true && before.insecure !== true),
  },
  webhook: {
    channels: ['webhook'],
    config: webhookConfig,
    credentials: webhookCredentials,
    create: (config, credentials, context) =>
      createWebhookProvider(config as never, credentials as never, context),
    targets: (config) => [{ path: 'config.url', host: urlHost(config.url) }],
    retargets: (before, after) => text(before.url) !== text(after.url),
  },
  fcm: {
    channels: ['push'],
    config: fcmConfig,
    credentials: fcmCredentials,
    create: (config, credentials, context) =>
      createFcmProvider(config as never, credentials as never, context),
    targets: (config, credentials) => {
      const targets = [{ path: 'config.endpoint', host: urlHost(config.endpoint ?? FCM_DEFAULT_ENDPOINT) }];
      // The assertion goes to the token URI: it is held to the same rule as the endpoint.
      const tokenHost = serviceAccountTokenHost(credentials.serviceAccount);
      if (tokenHost !== null) targets.push({ path: 'credentials.serviceAccount.token_uri', host: tokenHost });
      return targets;
    },
    // A new token_uri comes with new credentials anyway; the endpoint receives the access token.
    retargets: (before, after) =>
      text(before.endpoint || FCM_DEFAULT_ENDPOINT) !== text(after.endpoint || FCM_DEFAULT_ENDPOINT),
  },
  webpush: {
    channels: ['webpush'],
    config: webpushConfig,
    credentials: webpushCredentials,
    create: (config, credentials, context) =>
      createWebPushProvider(config as never, credentials as never, context),
    // Endpoints are the subscribers' (checked at device PUT and at every send), never the config's.
    targets: () => [],
    // The private key signs; it is never sent anywhere.
    retargets: () => false,
  },
});

export const SANDBOX = 'sandbox';
