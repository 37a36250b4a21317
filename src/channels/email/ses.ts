import {
  acceptedAnswer,
  baseUrl,
  header,
  httpStatusLine,
  integrationFailed,
  isAnswer,
  joinPath,
  type ProviderAnswer,
  parseObject,
  providerWords,
  requestProvider,
  retryLater,
} from '../http.ts';
import {
  type ChannelProvider,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
import { emailParts, formatMailbox, looksLikeAddress } from './content.ts';
import { checkedFrom, tidingsHeaders } from './sender.ts';
import { type AwsCredentials, signV4 } from './sigv4.ts';

export interface SesConfig {
  /** `us-east-1`, `eu-west-1`…: picks the endpoint and is signed into every request. */
  region: string;
  /** `address` or `Name <address>`, a verified identity. */
  from: string;
  /** Base URL override; `https://email.{region}.amazonaws.com` by default. */
  endpoint?: string;
  /**
   * The SNS topic SES publishes this integration's notifications to. When set, callbacks (and
   * subscription confirmations) signed for any other topic are refused: SNS signs every AWS
   * account's messages alike, so the signature alone does not say they are yours.
   */
  topicArn?: string;
}

export type SesCredentials = AwsCredentials;

const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

/** `us-east-1`, `eu-west-2`…: the region the default endpoint is built from. */
export function isAwsRegion(region: unknown): boolean {
  return typeof region === 'string' && REGION.test(region);
}
const UTF8 = 'UTF-8';

/** Throttling: the same request succeeds later. */
const THROTTLED = new Set(['TooManyRequestsException', 'LimitExceededException', 'ThrottlingException']);
/** The account or its sending identity cannot send at all: no message would go through it. */
const ACCOUNT_BROKEN = new Set([
  'AccountSuspendedException',
  'SendingPausedException',
  'MailFromDomainNotVerifiedException',
]);

/**
 * Creates the `ses` provider: SES API v2 SendEmail (`POST /v2/email/outbound-emails`), signed
 * with SigV4, through the outbound guard. SES answers `{"MessageId"}`, the provider message id.
 */
export function createSesProvider(
  config: SesConfig,
  credentials: SesCredentials,
  context: ProviderContext,
): ChannelProvider {
  if (!isAwsRegion(config.region)) {
    throw new ProviderConfigError('config.region', 'must be an AWS region such as us-east-1');
  }
  const from = formatMailbox(checkedFrom(config.from));
  if (!/^[A-Z0-9]{16,128}$/.test(credentials.accessKeyId ?? '')) {
    throw new ProviderConfigError('credentials.accessKeyId', 'must be an AWS access key id (AKIA…)');
  }
  if (!credentials.secretAccessKey)
    throw new ProviderConfigError('credentials.secretAccessKey', 'is required');
  const base = baseUrl(config.endpoint, `https://email.${config.region}.amazonaws.com`);
  const url = new URL(joinPath(base, '/v2/email/outbound-emails'), base);

  return {
    name: 'ses',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const to = message.subscriber.email;
      if (!to) return { kind: 'bad_address', reason: 'the subscriber has no email address' };
      if (!looksLikeAddress(to)) return { kind: 'bad_address', reason: 'not a usable email address' };
      const parts = emailParts(message.content);
      if ('problem' in parts) return { kind: 'permanent', reason: parts.problem };
      const headers = tidingsHeaders(message.messageId, message.unsubscribeUrl);
      const body = JSON.stringify({
        FromEmailAddress: from,
        Destination: { ToAddresses: [to] },
        ...(parts.replyTo ? { ReplyToAddresses: [formatMailbox(parts.replyTo)] } : {}),
        Content: {
          Simple: {
            Subject: { Data: parts.subject, Charset: UTF8 },
            Body: {
              Text: { Data: parts.text, Charset: UTF8 },
              ...(parts.html === undefined ? {} : { Html: { Data: parts.html, Charset: UTF8 } }),
            },
            Headers: Object.entries(headers).map(([Name, Value]) => ({ Name, Value })),
          },
        },
      });
      const signed = signV4(
        { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
        credentials,
        { region: config.region, service: 'ses', now: new Date() },
      );
      const answer = await requestProvider(context, base, {
        method: 'POST',
        path: `${url.pathname}`,
        headers: { ...signed, accept: 'application/json', 'user-agent': 'Tidings' },
        body,
      });
      if (!isAnswer(answer)) return answer;
      const outcome = classifySesAnswer(answer, Date.now());
      if (outcome.kind !== 'accepted' || !outcome.providerMessageId) return outcome;
      return {
        ...outcome,
        meta: { messageIdHeader: sesMessageIdHeader(outcome.providerMessageId, config.region) },
      };
    },
  };
}

/**
 * SES replaces any Message-ID the sender sets with one built from its MessageId, on
 * `email.amazonses.com` in us-east-1 and `{region}.amazonses.com` elsewhere.
 */
export function sesMessageIdHeader(sesMessageId: string, region: string): string {
  const host = region === 'us-east-1' ? 'email' : region;
  return `<${sesMessageId}@${host}.amazonses.com>`;
}

/**
 * Maps a SendEmail answer. The error's name comes from `x-amzn-ErrorType` (`MessageRejected:http://…`)
 * or the body's `__type` (`…#MessageRejected`); its words from the body's `message`.
 * - 2xx → accepted with `MessageId`.
 * - TooManyRequestsException, LimitExceededException (sending quota or rate), throttling, 429
 *   and 5xx → retryable.
 * - 401/403 (signature or key refused), AccountSuspendedException, SendingPausedException,
 *   MailFromDomainNotVerifiedException → the integration itself is broken: retryable with
 *   `integrationFailed`, so the send fails over to the next integration.
 * - MessageRejected, BadRequestException, any other 4xx → permanent.
 */
export function classifySesAnswer(answer: ProviderAnswer, now: number): SendOutcome {
  const line = httpStatusLine(answer.status);
  const json = parseObject(answer.body);
  if (answer.status >= 200 && answer.status < 300) {
    return acceptedAnswer(answer, json?.MessageId);
  }
  const type = errorType(header(answer.headers, 'x-amzn-errortype'), json?.__type);
  const words = providerWords(json?.message ?? json?.Message);
  const reason = type ? `${line}, SES ${type}${words ? `: ${words}` : ''}` : line;
  if ((type && THROTTLED.has(type)) || answer.status === 429 || answer.status >= 500) {
    return retryLater(answer, reason, now);
  }
  if (answer.status === 401 || answer.status === 403 || (type && ACCOUNT_BROKEN.has(type)))
    return integrationFailed(reason);
  return { kind: 'permanent', reason };
}

/** `MessageRejected:http://internal.amazon.com/…` or `com.amazonaws…#MessageRejected` → `MessageRejected`. */
function errorType(fromHeader: string | null, fromBody: unknown): string | null {
  const raw = fromHeader ?? (typeof fromBody === 'string' ? fromBody : '');
  const name = raw.split(':')[0]!.split('#').at(-1)!.trim();
  return /^[A-Za-z][A-Za-z0-9]{0,99}$/.test(name) ? name : null;
}
