import { convert } from 'html-to-text';
import { isDeliverableEmail } from '../../ingest/addresses.ts';

/** A mailbox: an address and an optional display name (`Acme <noreply@acme.test>`). */
export interface Mailbox {
  name: string | null;
  address: string;
}

/**
 * The longest `from` or `replyTo` taken: one RFC 5322 header line (998 characters) for the whole
 * `Name <address>` (the address itself is at most 254, RFC 5321), so a display name cannot grow a
 * header of every message without bound (a 400 KB name was accepted).
 */
export const MAX_MAILBOX_LENGTH = 998;

/**
 * Reads `address` or `Name <address>` (the name optionally quoted). Null for anything else, for
 * an address Tidings would not accept from a subscriber either, and for a name holding control
 * characters (a CR/LF there would start a header of its own).
 */
export function parseMailbox(value: string): Mailbox | null {
  const trimmed = value.trim();
  const named = /^(?:"([^"]*)"|([^"<>]*?))\s*<([^<>\s]+)>$/.exec(trimmed);
  const name = named ? (named[1] ?? named[2] ?? '').trim() : null;
  const address = named ? named[3]! : trimmed;
  if (!isDeliverableEmail(address)) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a name with control characters is refused
  if (name !== null && /[\u0000-\u001f\u007f]/.test(name)) return null;
  return { name: name || null, address };
}

/**
 * A mailbox as a header value (`"Acme, Inc." <a@acme.test>`): the name quoted when it holds
 * specials, and RFC 2047-encoded when it is not ASCII.
 */
export function formatMailbox(mailbox: Mailbox): string {
  if (!mailbox.name) return mailbox.address;
  const name = /^[\u0020-\u007e]*$/.test(mailbox.name)
    ? `"${mailbox.name.replace(/(["\\])/g, '\\$1')}"`
    : `=?UTF-8?B?${Buffer.from(mailbox.name, 'utf8').toString('base64')}?=`;
  return `${name} <${mailbox.address}>`;
}

/** The parts of an email, from the rendered template fields. */
export interface EmailParts {
  subject: string;
  html?: string;
  text: string;
  /** The step's `replyTo` field, checked. */
  replyTo?: Mailbox;
}

/**
 * Subject, html and text from the rendered content (text generated from html when the template
 * has none), or why the message cannot be sent as it is.
 */
export function emailParts(content: Record<string, string>): EmailParts | { problem: string } {
  const checked = checkedEnvelope(content);
  if ('problem' in checked) return checked;
  const { subject = '', html, text } = content;
  return {
    subject,
    ...(html === undefined ? {} : { html }),
    text: text ?? htmlToText(html ?? ''),
    ...(checked.replyTo ? { replyTo: checked.replyTo } : {}),
  };
}

/**
 * What every email provider refuses in the rendered content, before any text part is made: no
 * body at all, or a `replyTo` that is not one mailbox (a rendered CR/LF would start a header of
 * its own). The sandbox checks it too, so such a message fails there as it would in production.
 */
export function checkedEnvelope(
  content: Record<string, string>,
): { replyTo?: Mailbox } | { problem: string } {
  const { html, text, replyTo } = content;
  if (html === undefined && text === undefined) return { problem: 'email content has neither html nor text' };
  if (replyTo === undefined || replyTo.trim() === '') return {};
  if (replyTo.trim().length > MAX_MAILBOX_LENGTH)
    return { problem: `replyTo is longer than ${MAX_MAILBOX_LENGTH} characters (one header line)` };
  const parsed = parseMailbox(replyTo);
  return parsed ? { replyTo: parsed } : { problem: 'replyTo is not an email address or "Name <address>"' };
}

/** Plain-text alternative for HTML-only templates, so text-only clients and spam filters see content. */
export function htmlToText(html: string): string {
  try {
    return convert(html, {
      wordwrap: 78,
      selectors: [
        { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
        { selector: 'img', format: 'skip' },
      ],
    });
  } catch (error) {
    // html-to-text walks the element tree recursively: 20,000 nested elements overflow the stack.
    if (error instanceof RangeError)
      throw new Error('html nests its elements too deeply to make a text part of');
    throw error;
  }
}

/**
 * Checks that an html-only email can have its text part made (at send, emailParts), throwing
 * what htmlToText would: called when the message is built, so html that cannot make one fails
 * the message there (`template_error`) instead of every send attempt, as a provider's error.
 * The content is stored as rendered (its `text` stays absent, as the template wrote it).
 */
export function checkTextPart(
  content: Record<string, string>,
  /** Html checked already: recipients of one event often get the same html. */
  checked?: Set<string>,
): void {
  const { html } = content;
  if (content.text !== undefined || html === undefined || checked?.has(html)) return;
  htmlToText(html);
  if (checked && checked.size < HTML_CHECKS_REMEMBERED) checked.add(html);
}

/** Distinct html a batch remembers having checked (personalised html would only fill it). */
const HTML_CHECKS_REMEMBERED = 16;

/**
 * Refuses what is certainly not a single mailbox (spaces, lists, angle brackets, missing `@`);
 * the provider remains the judge of everything else.
 */
export function looksLikeAddress(address: string): boolean {
  return /^[^\s@<>,;"()]+@[^\s@<>,;"()]+$/.test(address);
}
