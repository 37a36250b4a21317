import { ProviderConfigError } from '../port.ts';
import { MAX_MAILBOX_LENGTH, type Mailbox, parseMailbox } from './content.ts';

/** `config.from` of an HTTP email provider, checked at `PUT` (422 naming the field). */
export function checkedFrom(from: unknown): Mailbox {
  const mailbox = typeof from === 'string' ? parseMailbox(from) : null;
  if (!mailbox) {
    throw new ProviderConfigError('config.from', 'must be an email address or "Name <address>"');
  }
  return mailbox;
}

/**
 * `config.from` of every email provider, bounded to one header line (MAX_MAILBOX_LENGTH). Checked
 * at `PUT` only when `from` changes, like SMTP's checkedFrom: an integration stored before the
 * bound keeps sending with the `from` it has, and can still be disabled.
 */
export function checkFromLength(from: unknown, stored: unknown): void {
  if (typeof from !== 'string' || from === stored || from.length <= MAX_MAILBOX_LENGTH) return;
  throw new ProviderConfigError(
    'config.from',
    `must be at most ${MAX_MAILBOX_LENGTH} characters, one header line (RFC 5322), the name and <address> together`,
  );
}

/** Headers every Tidings email carries, beside what the provider sets itself. */
export function tidingsHeaders(
  messageId: string,
  unsubscribeUrl: string | undefined,
): Record<string, string> {
  return {
    'X-Tidings-Message-Id': messageId,
    // RFC 8058 one-click unsubscribe, for categories subscribers may leave.
    ...(unsubscribeUrl
      ? { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
      : {}),
  };
}

/**
 * The Message-ID header Tidings gives an email: stable across retries of the same message (so
 * receivers can spot a duplicate), on the sender's own domain (a Message-ID whose right side has
 * no dot is a spam signal). It is the message's `meta.messageIdHeader`.
 */
export function emailMessageId(messageId: string, from: string): string {
  const domain = /@([^\s>@]+\.[^\s>@]+)>?\s*$/.exec(from)?.[1] ?? 'tidings.invalid';
  return `<${messageId}@${domain.toLowerCase()}>`;
}
