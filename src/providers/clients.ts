import { createDiscordProvider } from '../channels/chat/discord.ts';
import { createSlackProvider } from '../channels/chat/slack.ts';
import { createSendGridProvider } from '../channels/email/sendgrid.ts';
import { createSesProvider } from '../channels/email/ses.ts';
import { createSmtpProvider } from '../channels/email/smtp.ts';
import { type ChannelProvider, ProviderConfigError, type ProviderContext } from '../channels/port.ts';
import { createApnsProvider } from '../channels/push/apns.ts';
import { createFcmProvider } from '../channels/push/fcm.ts';
import { createTwilioProvider } from '../channels/sms/twilio.ts';
import { createWebhookProvider } from '../channels/webhook/webhook.ts';
import { createWebPushProvider } from '../channels/webpush/webpush.ts';
import { parseSendGridKey } from '../feedback/sendgrid-signature.ts';

/**
 * What a send needs of each provider: how to build its client, and which config fields are
 * secrets kept with the credentials. The rest of a provider's definition (its schemas and the
 * checks a PUT makes: catalog.ts) is the API's; kept apart so the worker thread, which only
 * builds clients, does not load TypeBox and the schemas (~1 s of its start under tsx).
 */

type Fields = Record<string, unknown>;

export interface ProviderClient {
  /** Builds the client offline (never connects); throws ProviderConfigError naming a bad field. */
  create(config: Fields, credentials: Fields, context: ProviderContext): ChannelProvider;
  /**
   * Config fields that are secrets themselves (a chat webhook URL): stored sealed with the
   * credentials and returned masked (see secret-config.ts).
   */
  secretConfig?: readonly string[];
}

/** The built-in provider every channel falls back to (src/channels/sandbox.ts); it has no definition. */
export const SANDBOX = 'sandbox';

/** A SendGrid verification key must be a P-256 public key: checked at PUT, not at the first callback. */
function checkSendGridWebhookKey(key: unknown): void {
  if (key === undefined) return;
  try {
    parseSendGridKey(String(key));
  } catch (error) {
    throw new ProviderConfigError(
      'credentials.webhookVerificationKey',
      `${(error as Error).message.startsWith('is not') ? (error as Error).message : 'is not a public key'} (paste the Verification Key SendGrid shows for the Signed Event Webhook)`,
    );
  }
}

export const PROVIDER_CLIENTS = Object.freeze({
  smtp: {
    create: (config, credentials, context) =>
      createSmtpProvider(config as never, credentials as never, context),
  },
  apns: {
    create: (config, credentials, context) =>
      createApnsProvider(config as never, credentials as never, context),
  },
  webhook: {
    create: (config, credentials, context) =>
      createWebhookProvider(config as never, credentials as never, context),
  },
  twilio: {
    create: (config, credentials, context) =>
      createTwilioProvider(config as never, credentials as never, context),
  },
  ses: {
    create: (config, credentials, context) =>
      createSesProvider(config as never, credentials as never, context),
  },
  sendgrid: {
    create: (config, credentials, context) => {
      checkSendGridWebhookKey(credentials.webhookVerificationKey);
      return createSendGridProvider(config as never, credentials as never, context);
    },
  },
  slack: {
    create: (config, _credentials, context) => createSlackProvider(config as never, context),
    secretConfig: ['webhookUrl'],
  },
  discord: {
    create: (config, _credentials, context) => createDiscordProvider(config as never, context),
    secretConfig: ['webhookUrl'],
  },
  fcm: {
    create: (config, credentials, context) =>
      createFcmProvider(config as never, credentials as never, context),
  },
  webpush: {
    create: (config, credentials, context) =>
      createWebPushProvider(config as never, credentials as never, context),
  },
} satisfies Record<string, ProviderClient>);

/** The client side of provider `name`, or undefined for a name Tidings does not know. */
export function providerClient(name: string): ProviderClient | undefined {
  return Object.hasOwn(PROVIDER_CLIENTS, name)
    ? PROVIDER_CLIENTS[name as keyof typeof PROVIDER_CLIENTS]
    : undefined;
}
