import Type, { type TSchema } from 'typebox';
import { createSmtpProvider } from '../channels/email/smtp.ts';
import type { ChannelProvider } from '../channels/port.ts';
import { createWebhookProvider } from '../channels/webhook/webhook.ts';
import type { Channel } from '../shared/model.ts';

/** One provider Tidings can talk to: which channels it serves and what its config and credentials look like. */
export interface ProviderDefinition {
  channels: readonly Channel[] | 'any';
  config: TSchema;
  credentials: TSchema;
  create(config: Record<string, unknown>, credentials: Record<string, unknown>): ChannelProvider;
}

const smtpConfig = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  secure: Type.Optional(Type.Boolean()),
  from: Type.String({ minLength: 3 }),
  dkim: Type.Optional(Type.Object({ domainName: Type.String(), keySelector: Type.String() })),
});
const smtpCredentials = Type.Object({
  user: Type.Optional(Type.String()),
  pass: Type.Optional(Type.String()),
  dkimPrivateKey: Type.Optional(Type.String()),
});
const webhookConfig = Type.Object({ url: Type.String({ pattern: '^https?://' }) });
const webhookCredentials = Type.Object({ secret: Type.String({ minLength: 16 }) });

/** Providers by name. The sandbox is built in (see ProviderRegistry) and needs no integration. */
export const PROVIDERS: Readonly<Record<string, ProviderDefinition>> = Object.freeze({
  smtp: {
    channels: ['email'],
    config: smtpConfig,
    credentials: smtpCredentials,
    create: (config, credentials) => createSmtpProvider(config as never, credentials as never),
  },
  webhook: {
    channels: ['webhook'],
    config: webhookConfig,
    credentials: webhookCredentials,
    create: (config, credentials) => createWebhookProvider(config as never, credentials as never),
  },
});

export const SANDBOX = 'sandbox';
