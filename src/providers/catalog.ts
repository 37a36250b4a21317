import Type, { type TSchema } from 'typebox';
import { createSmtpProvider } from '../channels/email/smtp.ts';
import type { ChannelProvider, ProviderContext } from '../channels/port.ts';
import { APNS_ENDPOINTS, apnsEndpoint, createApnsProvider } from '../channels/push/apns.ts';
import { createWebhookProvider } from '../channels/webhook/webhook.ts';
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
  /** The hosts the config points at, for the private-target check at `PUT`. */
  targets(config: Fields): ProviderTarget[];
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

// Apple's ids are 10 characters; the schema only keeps them to what a JWT header and claim can carry
// as-is, and APNs itself is the judge (InvalidProviderToken).
const appleId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9]+$' });
const apnsConfig = Type.Object(
  {
    teamId: appleId,
    keyId: appleId,
    // Reverse-DNS: letters, digits, hyphens and periods (Apple's rule for bundle ids).
    bundleId: Type.String({ minLength: 1, maxLength: 155, pattern: '^[A-Za-z0-9.-]+$' }),
    environment: Type.Union([Type.Literal('production'), Type.Literal('sandbox')]),
    endpoint: Type.Optional(Type.String({ pattern: '^https://', maxLength: 2048 })),
  },
  CLOSED,
);
const apnsCredentials = Type.Object({ privateKey: Type.String({ minLength: 1, maxLength: 16_384 }) }, CLOSED);

const text = (value: unknown) => (typeof value === 'string' ? value : '');
const sameHost = (a: unknown, b: unknown) =>
  text(a).toLowerCase().replace(/\.+$/, '') === text(b).toLowerCase().replace(/\.+$/, '');

function urlHost(url: unknown): string {
  return URL.canParse(text(url)) ? new URL(text(url)).hostname : text(url);
}

function isAppleEndpoint(url: string): boolean {
  return (Object.values(APNS_ENDPOINTS) as string[]).includes(url);
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
  apns: {
    channels: ['push'],
    config: apnsConfig,
    credentials: apnsCredentials,
    create: (config, credentials, context) =>
      createApnsProvider(config as never, credentials as never, context),
    targets: (config) => [
      {
        path: config.endpoint === undefined ? 'config.environment' : 'config.endpoint',
        host: urlHost(apnsEndpoint(config)),
      },
    ],
    // Provider tokens are bearer credentials for every app of the team: they may go to another
    // endpoint only when both are Apple's own (production and sandbox).
    retargets: (before, after) => {
      const [from, to] = [apnsEndpoint(before), apnsEndpoint(after)];
      return from !== to && !(isAppleEndpoint(from) && isAppleEndpoint(to));
    },
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
});

export const SANDBOX = 'sandbox';
