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
import { emailParts, looksLikeAddress, type Mailbox } from './content.ts';
import { checkedFrom, emailMessageId, tidingsHeaders } from './sender.ts';

export interface SendGridConfig {
  /** `address` or `Name <address>`, a verified sender. */
  from: string;
  /** Base URL override; `https://api.sendgrid.com` by default (EU accounts: `https://api.eu.sendgrid.com`). */
  endpoint?: string;
}

export interface SendGridCredentials {
  apiKey: string;
}

export const SENDGRID_API = 'https://api.sendgrid.com';

/**
 * The API key travels in the Authorization header, which cannot carry a line break, a control
 * character or anything beyond Latin-1: such a key (one pasted with its trailing newline, say)
 * would fail every send before it left, as if SendGrid never answered. Checked at `PUT`.
 */
export function checkSendGridApiKey(apiKey: unknown): void {
  if (typeof apiKey === 'string' && !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new ProviderConfigError(
      'credentials.apiKey',
      'must be the API key SendGrid gave: printable ASCII without spaces or line breaks',
    );
  }
}

/**
 * Creates the `sendgrid` provider: v3 Mail Send (`POST /v3/mail/send`, bearer API key) through
 * the outbound guard. SendGrid answers 202 with an `X-Message-Id` header, the provider message
 * id. The Tidings message id travels as a header and a custom arg, so SendGrid's event webhook
 * can be matched back to the message.
 */
export function createSendGridProvider(
  config: SendGridConfig,
  credentials: SendGridCredentials,
  context: ProviderContext,
): ChannelProvider {
  const from = checkedFrom(config.from);
  if (!credentials.apiKey) throw new ProviderConfigError('credentials.apiKey', 'is required');
  const base = baseUrl(config.endpoint, SENDGRID_API);
  const path = joinPath(base, '/v3/mail/send');

  return {
    name: 'sendgrid',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const to = message.subscriber.email;
      if (!to) return { kind: 'bad_address', reason: 'the subscriber has no email address' };
      if (!looksLikeAddress(to)) return { kind: 'bad_address', reason: 'not a usable email address' };
      const parts = emailParts(message.content);
      if ('problem' in parts) return { kind: 'permanent', reason: parts.problem };
      const messageIdHeader = emailMessageId(message.messageId, from.address);
      const body = {
        personalizations: [{ to: [{ email: to }] }],
        from: person(from),
        ...(parts.replyTo ? { reply_to: person(parts.replyTo) } : {}),
        subject: parts.subject,
        // SendGrid wants text/plain before text/html.
        content: [
          { type: 'text/plain', value: parts.text },
          ...(parts.html === undefined ? [] : [{ type: 'text/html', value: parts.html }]),
        ],
        // SendGrid keeps a Message-ID the sender sets: the same one on every retry.
        headers: {
          ...tidingsHeaders(message.messageId, message.unsubscribeUrl),
          'Message-ID': messageIdHeader,
        },
        custom_args: { tidings_message_id: message.messageId },
      };
      const answer = await requestProvider(context, base, {
        method: 'POST',
        path,
        headers: {
          authorization: `Bearer ${credentials.apiKey}`,
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': 'Tidings',
        },
        body: JSON.stringify(body),
      });
      if (!isAnswer(answer)) return answer;
      const outcome = classifySendGridAnswer(answer, Date.now());
      return outcome.kind === 'accepted' ? { ...outcome, meta: { messageIdHeader } } : outcome;
    },
  };
}

function person(mailbox: Mailbox): { email: string; name?: string } {
  return mailbox.name ? { email: mailbox.address, name: mailbox.name } : { email: mailbox.address };
}

/**
 * Maps a Mail Send answer.
 * - 2xx (202 Accepted) → accepted, with `X-Message-Id`.
 * - 429 and 5xx → retryable (Retry-After when sent).
 * - 401/403 (the API key refused, or it may not send from this sender) → the integration itself
 *   is broken: retryable with `integrationFailed`, so the send fails over to the next one.
 * - 400 (validation), 413 (too large), any other 4xx → permanent, with the first
 *   `{"errors": [{message, field}]}` entry.
 */
export function classifySendGridAnswer(answer: ProviderAnswer, now: number): SendOutcome {
  const line = httpStatusLine(answer.status);
  if (answer.status >= 200 && answer.status < 300) {
    return acceptedAnswer(answer, header(answer.headers, 'x-message-id'));
  }
  const reason = `${line}${firstError(answer.body)}`;
  if (answer.status === 429 || answer.status >= 500) {
    return retryLater(answer, reason, now);
  }
  if (answer.status === 401 || answer.status === 403) return integrationFailed(reason);
  return { kind: 'permanent', reason };
}

/** `: The from address does not match a verified Sender Identity (from.email)`, or ''. */
function firstError(body: string): string {
  const errors = parseObject(body)?.errors;
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  if (typeof first !== 'object' || first === null) return '';
  const { message, field } = first as { message?: unknown; field?: unknown };
  const words = providerWords(message);
  const where = typeof field === 'string' && /^[\w.[\]-]{1,64}$/.test(field) ? ` (${field})` : '';
  return words ? `: ${words}${where}` : '';
}
