import Type, { type TSchema } from 'typebox';
import { checkedFrom, checkFromLength } from '../channels/email/sender.ts';
import { checkSendGridApiKey, SENDGRID_API } from '../channels/email/sendgrid.ts';
import { isAwsRegion } from '../channels/email/ses.ts';
import {
  checkDkimKeyUsed,
  checkDkimNames,
  checkInsecureUsed,
  checkSmtpLogin,
} from '../channels/email/smtp-settings.ts';
import { ProviderConfigError } from '../channels/port.ts';
import { apnsEndpoint } from '../channels/push/apns.ts';
import { FCM_DEFAULT_ENDPOINT } from '../channels/push/fcm.ts';
import { serviceAccountTokenHost } from '../channels/push/fcm-credentials.ts';
import { TWILIO_API } from '../channels/sms/twilio.ts';
import { checkWebhookSecret } from '../channels/webhook/signature.ts';
import { checkWebhookUrl } from '../channels/webhook/webhook.ts';
import type { Channel } from '../shared/model.ts';
import { PatternString } from '../shared/pattern-schemas.ts';
import { PROVIDER_CLIENTS, type ProviderClient } from './clients.ts';

type Fields = Record<string, unknown>;

/** A host an integration makes Tidings connect to, and the field that names it. */
export interface ProviderTarget {
  path: string;
  host: string;
  /** The URL's port as written ('' when it names none): port 0 is refused at PUT. */
  port?: string;
}

/** The credentials of a `PUT`: those it gives, and those the integration will use (given, else stored). */
export interface PutCredentials {
  given: Fields | undefined;
  used: Fields;
}

/** One provider Tidings can talk to: which channels it serves and what its config and credentials look like. */
export interface ProviderDefinition extends ProviderClient {
  channels: readonly Channel[] | 'any';
  config: TSchema;
  credentials: TSchema;
  /**
   * Checks made only when an integration is written (`PUT`), not each time a send builds the
   * client: integrations stored before a check existed go on sending as they did, and can still
   * be changed (disabled, given another priority) while they keep the value it would refuse.
   * `stored` is the config of the integration being replaced, if it has this provider. Throws
   * ProviderConfigError naming a bad field. `credentials` are those the PUT gives (if any) and those
   * the integration will use (given or stored).
   */
  checkAtPut?(config: Fields, stored: Fields | null, credentials: PutCredentials): void;
  /**
   * Checks of the credentials a `PUT` gives, never of stored ones (which go on as they were):
   * values the client can be built with but no send could use, or could use only to sign with
   * less than was given, or that the config gives no use (a key for a feature left off). Throws
   * ProviderConfigError naming a bad field.
   */
  checkCredentials?(credentials: Fields, config: Fields): void;
  /**
   * The hosts the config (and credentials, where they name one: FCM's `token_uri`) point at, for
   * the private-target check at `PUT`. `credentials` are the ones the integration will use: given
   * with the `PUT`, or the stored ones.
   */
  targets(config: Fields, credentials: Fields): ProviderTarget[];
  /**
   * True when `after` sends the credentials — or a secret config field (a chat webhook URL) —
   * somewhere `before` did not (another host, port, URL or endpoint, or less protection on the
   * way): the stored ones must then be given again. `before` is the stored config (secret fields
   * masked, their origin kept), `after` the PUT's with them restored.
   */
  retargets(before: Fields, after: Fields): boolean;
}

// A field the schema does not name is refused, never stored: an adapter that later reads a field of
// that name (a timeout, a proxy) must not find a tenant's value waiting for it.
const CLOSED = { additionalProperties: false } as const;

// Every credential string has a bound far above any real value, so a megabyte pasted by mistake
// (or sent on purpose) is a 422 naming the field, not sealed and stored. Credentials are checked
// only when a PUT gives them: one without `credentials` keeps the stored ones as they are.
/** A password, token or API key a provider issues (real ones: 20–100 characters). */
export const SECRET_MAX_LENGTH = 1024;
/** A PEM private key (an RSA key of 8,192 bits is ~6.4 KB of PEM). */
export const PEM_MAX_LENGTH = 16_384;
/** A service-account key file, as its text or as JSON (Google's are ~2.4 KB). */
export const SERVICE_ACCOUNT_MAX_LENGTH = 65_536;
/** A URL an integration connects to, as every URL field of the API. */
export const URL_MAX_LENGTH = 2048;

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
    user: Type.Optional(Type.String({ maxLength: SECRET_MAX_LENGTH })),
    pass: Type.Optional(Type.String({ maxLength: SECRET_MAX_LENGTH })),
    dkimPrivateKey: Type.Optional(Type.String({ maxLength: PEM_MAX_LENGTH })),
  },
  CLOSED,
);
const HTTP_URL_MESSAGE = 'must be an http:// or https:// URL';
// HTTP providers: the semantic checks (formats, exactly-one rules, URLs) live in each adapter's
// create(), which throws ProviderConfigError naming the field (422); the schemas hold the shape.
const endpoint = Type.Optional(Type.String({ minLength: 1, maxLength: URL_MAX_LENGTH }));
// The URL's length is checked at PUT when it changes (checkAtPut), as its other rules are.
const webhookConfig = Type.Object({ url: PatternString('^https?://', HTTP_URL_MESSAGE), endpoint }, CLOSED);
// API.md puts no rule on the secret's length: a short one only weakens the tenant's own receiver.
const webhookCredentials = Type.Object(
  { secret: Type.String({ minLength: 1, maxLength: SECRET_MAX_LENGTH }) },
  CLOSED,
);

const twilioConfig = Type.Object(
  {
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    messagingServiceSid: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    endpoint,
  },
  CLOSED,
);
const twilioCredentials = Type.Object(
  {
    accountSid: Type.String({ minLength: 1, maxLength: 64 }),
    authToken: Type.String({ minLength: 1, maxLength: SECRET_MAX_LENGTH }),
  },
  CLOSED,
);
const sesConfig = Type.Object(
  {
    region: Type.String({ minLength: 1, maxLength: 64 }),
    from: Type.String({ minLength: 3 }),
    endpoint,
    topicArn: Type.Optional(
      PatternString(
        '^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$',
        'must be the ARN of an SNS topic, e.g. "arn:aws:sns:us-east-1:123456789012:ses-events"',
        {
          description: 'the SNS topic of your SES notifications: callbacks from any other topic are refused',
        },
      ),
    ),
  },
  CLOSED,
);
const sesCredentials = Type.Object(
  {
    accessKeyId: Type.String({ minLength: 1, maxLength: 128 }),
    secretAccessKey: Type.String({ minLength: 1, maxLength: SECRET_MAX_LENGTH }),
  },
  CLOSED,
);
const sendgridConfig = Type.Object({ from: Type.String({ minLength: 3 }), endpoint }, CLOSED);
const sendgridCredentials = Type.Object(
  {
    apiKey: Type.String({ minLength: 1, maxLength: SECRET_MAX_LENGTH }),
    // The Signed Event Webhook's verification key (base64 or PEM): without it, event callbacks are refused (401).
    webhookVerificationKey: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  },
  CLOSED,
);
const chatConfig = Type.Object(
  { webhookUrl: Type.String({ minLength: 1, maxLength: 2048 }), endpoint },
  CLOSED,
);
const noCredentials = Type.Object({}, CLOSED);
const fcmConfig = Type.Object(
  {
    // Google project ids: lower-case letters, digits and hyphens (older ones: `domain.com:name`).
    projectId: PatternString(
      '^[a-z0-9][a-z0-9.:-]*$',
      "must be lower-case letters, digits, '.', ':' or '-', the first a letter or digit",
      { minLength: 1, maxLength: 100 },
    ),
    endpoint: Type.Optional(PatternString('^https?://', HTTP_URL_MESSAGE, { maxLength: 2048 })),
  },
  CLOSED,
);
const fcmCredentials = Type.Object(
  {
    // The key file as Google gives it, or its text; its fields are checked when the client is built.
    // As an object, its JSON is held to the same bound at PUT (checkServiceAccountSize).
    serviceAccount: Type.Union([
      Type.String({ minLength: 1, maxLength: SERVICE_ACCOUNT_MAX_LENGTH }),
      Type.Object({}),
    ]),
  },
  CLOSED,
);
const webpushConfig = Type.Object(
  {
    subject: PatternString('^(mailto|https):', 'must be a mailto: or https: URL', { maxLength: 2048 }),
    endpoint,
  },
  CLOSED,
);
const webpushCredentials = Type.Object(
  {
    vapidPublicKey: Type.String({ minLength: 1, maxLength: 200 }),
    vapidPrivateKey: Type.String({ minLength: 1, maxLength: 200 }),
  },
  CLOSED,
);
// Apple's ids are 10 characters; the schema only keeps them to what a JWT header and claim can carry
// as-is, and APNs itself is the judge (InvalidProviderToken).
const appleId = PatternString('^[A-Za-z0-9]*$', 'must hold only letters (A–Z, a–z) and digits', {
  minLength: 1,
  maxLength: 64,
});
const apnsConfig = Type.Object(
  {
    teamId: appleId,
    keyId: appleId,
    // Reverse-DNS: letters, digits, hyphens and periods (Apple's rule for bundle ids).
    bundleId: PatternString('^[A-Za-z0-9.-]*$', "must hold only letters (A–Z, a–z), digits, '.' and '-'", {
      minLength: 1,
      maxLength: 155,
    }),
    environment: Type.Union([Type.Literal('production'), Type.Literal('sandbox')]),
    endpoint: Type.Optional(PatternString('^https://', 'must be an https:// URL', { maxLength: 2048 })),
  },
  CLOSED,
);
const apnsCredentials = Type.Object(
  { privateKey: Type.String({ minLength: 1, maxLength: PEM_MAX_LENGTH }) },
  CLOSED,
);

const text = (value: unknown) => (typeof value === 'string' ? value : '');
const sameHost = (a: unknown, b: unknown) =>
  text(a).toLowerCase().replace(/\.+$/, '') === text(b).toLowerCase().replace(/\.+$/, '');

/** The host (and port) a URL field makes Tidings connect to, named by the field. */
function urlTarget(path: string, url: unknown): ProviderTarget {
  if (!URL.canParse(text(url))) return { path, host: text(url) };
  const { hostname, port } = new URL(text(url));
  return { path, host: hostname, port };
}

/** The one host an HTTP provider connects to: `config.endpoint`'s when set, else its own API's. */
function endpointTarget(config: Fields, fallback: string): ProviderTarget[] {
  return [urlTarget('config.endpoint', config.endpoint ?? fallback)];
}

/** Credentials sent to another endpoint than before must be given again. */
const endpointMoved = (before: Fields, after: Fields) => text(before.endpoint) !== text(after.endpoint);

/** A URL's origin (scheme, host and port), or its text when it is no URL. */
const urlOrigin = (url: unknown) => (URL.canParse(text(url)) ? new URL(text(url)).origin : text(url));

/**
 * A chat webhook URL (the secret) goes to `endpoint` when set, else to its own origin: another
 * endpoint (added, changed or removed) or another origin of the URL sends it somewhere new. The
 * stored URL is masked with its origin kept (secret-config.ts), so the origins compare.
 */
const chatRetargets = (before: Fields, after: Fields) =>
  endpointMoved(before, after) || urlOrigin(before.webhookUrl) !== urlOrigin(after.webhookUrl);

/** AUTH may cross the wire in clear: `insecure` and no implicit TLS (smtp.ts's requireTLS rule). */
const smtpAuthInClear = (config: Fields) => config.insecure === true && config.secure !== true;

/** A URL field's provider posts to `endpoint`'s host when set, else the URL's (chat, webhook). */
function urlOrEndpointTargets(config: Fields, field: string): ProviderTarget[] {
  return config.endpoint === undefined
    ? [urlTarget(`config.${field}`, config[field])]
    : [urlTarget('config.endpoint', config.endpoint)];
}

/** A chat webhook posts to `endpoint`'s host when set, else the webhook URL's. */
const chatTargets = (config: Fields) => urlOrEndpointTargets(config, 'webhookUrl');

/** A URL field longer than URL_MAX_LENGTH, refused naming it (checked where the field changes). */
function checkUrlLength(path: string, url: unknown): void {
  if (typeof url === 'string' && url.length > URL_MAX_LENGTH)
    throw new ProviderConfigError(path, `must be at most ${URL_MAX_LENGTH} characters`);
}

/**
 * A service account given as an object is held to the bound of its text form: its JSON (every
 * field of the key file together) is at most SERVICE_ACCOUNT_MAX_LENGTH characters.
 */
function checkServiceAccountSize(serviceAccount: unknown): void {
  if (typeof serviceAccount !== 'object' || serviceAccount === null) return;
  if (JSON.stringify(serviceAccount).length > SERVICE_ACCOUNT_MAX_LENGTH)
    throw new ProviderConfigError(
      'credentials.serviceAccount',
      `must be at most ${SERVICE_ACCOUNT_MAX_LENGTH} characters of JSON, as its text (a key file is ~2.4 KB)`,
    );
}

/** Providers by name. The sandbox is built in (see ProviderRegistry) and needs no integration. */
export const PROVIDERS: Readonly<Record<string, ProviderDefinition>> = Object.freeze({
  smtp: {
    channels: ['email'],
    config: smtpConfig,
    credentials: smtpCredentials,
    ...PROVIDER_CLIENTS.smtp,
    // Checked as the HTTP providers check theirs, but only at PUT: nodemailer takes forms of
    // `from` that parseMailbox does not, and an SMTP integration that sends today must go on.
    checkAtPut: (config, stored, credentials) => {
      checkFromLength(config.from, stored?.from);
      if (stored?.from !== config.from) checkedFrom(config.from);
      if (JSON.stringify(stored?.dkim) !== JSON.stringify(config.dkim)) checkDkimNames(config.dkim);
      checkInsecureUsed(config, stored, credentials);
    },
    checkCredentials: (credentials, config) => {
      checkSmtpLogin(credentials);
      checkDkimKeyUsed(credentials, config);
    },
    targets: (config) => [{ path: 'config.host', host: text(config.host) }],
    // Less protection on the way counts as a new target: AUTH in clear where it was not before
    // (`insecure` turned on, or `secure` turned off while `insecure` stays, in an integration
    // stored before PUT refused that pair).
    retargets: (before, after) =>
      !sameHost(before.host, after.host) ||
      before.port !== after.port ||
      (smtpAuthInClear(after) && !smtpAuthInClear(before)),
  },
  apns: {
    channels: ['push'],
    config: apnsConfig,
    credentials: apnsCredentials,
    ...PROVIDER_CLIENTS.apns,
    targets: (config) => [
      urlTarget(
        config.endpoint === undefined ? 'config.environment' : 'config.endpoint',
        apnsEndpoint(config),
      ),
    ],
    // Provider tokens are bearer credentials for every app of the team. The environment picks the
    // host when no endpoint is set (api.push.apple.com or api.sandbox.push.apple.com): another
    // host, even Apple's other one, is another target (API.md), so the key must be given again.
    retargets: (before, after) => apnsEndpoint(before) !== apnsEndpoint(after),
  },
  webhook: {
    channels: ['webhook'],
    config: webhookConfig,
    credentials: webhookCredentials,
    ...PROVIDER_CLIENTS.webhook,
    // Only a new URL is checked: a stored one keeps working as it did (see checkAtPut).
    checkAtPut: (config, stored) => {
      if (stored?.url === config.url) return;
      checkUrlLength('config.url', config.url);
      checkWebhookUrl(config.url);
    },
    checkCredentials: (credentials) => checkWebhookSecret(credentials.secret),
    // `endpoint` (an origin and path prefix) replaces the URL's origin, as for chat webhooks.
    targets: (config) => urlOrEndpointTargets(config, 'url'),
    retargets: (before, after) => text(before.url) !== text(after.url) || endpointMoved(before, after),
  },
  twilio: {
    channels: ['sms'],
    config: twilioConfig,
    credentials: twilioCredentials,
    ...PROVIDER_CLIENTS.twilio,
    targets: (config) => endpointTarget(config, TWILIO_API),
    retargets: endpointMoved,
  },
  ses: {
    channels: ['email'],
    config: sesConfig,
    credentials: sesCredentials,
    ...PROVIDER_CLIENTS.ses,
    checkAtPut: (config, stored) => checkFromLength(config.from, stored?.from),
    // A region that is no region names no host: create() refuses it, naming config.region (checking
    // the URL built from `x@10.0.0.1/` instead would blame config.endpoint, a field never given).
    targets: (config) =>
      config.endpoint === undefined && !isAwsRegion(config.region)
        ? []
        : endpointTarget(config, `https://email.${text(config.region)}.amazonaws.com`),
    // The default endpoint follows the region: another region is another host.
    retargets: (before, after) => endpointMoved(before, after) || text(before.region) !== text(after.region),
  },
  sendgrid: {
    channels: ['email'],
    config: sendgridConfig,
    credentials: sendgridCredentials,
    ...PROVIDER_CLIENTS.sendgrid,
    checkAtPut: (config, stored) => checkFromLength(config.from, stored?.from),
    checkCredentials: (credentials) => checkSendGridApiKey(credentials.apiKey),
    targets: (config) => endpointTarget(config, SENDGRID_API),
    retargets: endpointMoved,
  },
  slack: {
    channels: ['chat'],
    config: chatConfig,
    credentials: noCredentials,
    ...PROVIDER_CLIENTS.slack,
    targets: chatTargets,
    // The webhook URL is the secret: a PUT that sends it back masked may not send it elsewhere.
    retargets: chatRetargets,
  },
  discord: {
    channels: ['chat'],
    config: chatConfig,
    credentials: noCredentials,
    ...PROVIDER_CLIENTS.discord,
    targets: chatTargets,
    retargets: chatRetargets,
  },
  fcm: {
    channels: ['push'],
    config: fcmConfig,
    credentials: fcmCredentials,
    ...PROVIDER_CLIENTS.fcm,
    checkCredentials: (credentials) => checkServiceAccountSize(credentials.serviceAccount),
    targets: (config, credentials) => {
      const targets = [urlTarget('config.endpoint', config.endpoint ?? FCM_DEFAULT_ENDPOINT)];
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
    ...PROVIDER_CLIENTS.webpush,
    // Push-service URLs are the subscribers' (checked at device PUT and at every send); with
    // `endpoint` set, every push goes to that origin instead.
    targets: (config) =>
      config.endpoint === undefined ? [] : [urlTarget('config.endpoint', config.endpoint)],
    // The private key is never sent, but the VAPID tokens it signs are bearer tokens of the
    // application server: a new endpoint would receive them.
    retargets: endpointMoved,
  },
});

/**
 * The provider named `name`, or undefined. A name from a request body is looked up as an own key
 * only: `PROVIDERS["__proto__"]` or `PROVIDERS["constructor"]` would otherwise answer with
 * Object.prototype's members, taken for a provider definition (a 500 instead of a 400).
 */
export function providerDefinition(name: string): ProviderDefinition | undefined {
  return Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
}
