import type { MessageReason, MessageStatus } from '../shared/model.ts';
import type { AddressChannel } from './address.ts';

/**
 * How a provider names the message it reports on: our id (SendGrid's custom arg) or its own, on
 * the channel that provider sends (only email and SMS providers report by their own ids).
 */
export type MessageRef = { messageId: string } | { providerMessageId: string; channel: AddressChannel };

/** What a callback says about one message. */
export interface MessageChange {
  /** The new status; null only records `entry` in the timeline (a complaint about a delivered email). */
  status: 'delivered' | 'read' | 'clicked' | 'bounced' | 'failed' | null;
  /** The timeline entry's status when `status` is null. */
  entryStatus?: string;
  reason?: MessageReason;
  error?: string;
  detail: string;
  /** The statuses this change may replace, when narrower than REPLACES says (a text's carrier receipt is final). */
  replaces?: readonly MessageStatus[];
}

/** What a callback says about an address: it bounced, complained, or texted STOP or START. */
export interface AddressFeedback {
  channel: AddressChannel;
  address: string;
  effect: 'hard_bounce' | 'soft_bounce' | 'complaint' | 'stop' | 'start';
  detail: string;
}

/**
 * One thing a provider reported, in Tidings' words. Parsers (twilio-events.ts, ses-events.ts,
 * sendgrid-events.ts) are pure; apply.ts makes them so. Address effects of an event about a
 * message apply only when that message is the tenant's: an integration id two tenants share (SNS
 * signatures name no tenant) cannot suppress another tenant's addresses. An event about no
 * message (an SMS STOP) is the tenant's by the signature alone.
 */
/** A provider's id of one report, fit to key it by: short, of id characters only. */
const REPORT_ID = /^[\w+/=.:-]{1,100}$/;

/**
 * Marks the events that change an address (a bounce, a complaint) as applied once, each under
 * `provider:` and its report's id (null: none usable, applied as often as it comes). Providers
 * deliver a report more than once (SendGrid often does, hours apart; SNS retries): a repeat of a
 * complaint after the subscriber opted back in must not opt them out again. Status changes need no
 * key: a message moves forward only.
 */
export function oncePerReport(
  events: FeedbackEvent[],
  provider: string,
  idOf: (event: FeedbackEvent, index: number) => unknown,
): FeedbackEvent[] {
  events.forEach((event, index) => {
    const id = idOf(event, index);
    if (event.addresses.length > 0 && typeof id === 'string' && REPORT_ID.test(id))
      event.once = `${provider}:${id}`;
  });
  return events;
}

export interface FeedbackEvent {
  /**
   * The provider's own id for this report, when applying it twice could undo a later one (a
   * replayed START after a STOP): applied once per tenant, a repeat changes nothing.
   */
  once?: string;
  ref?: MessageRef;
  change?: MessageChange;
  addresses: AddressFeedback[];
}

/**
 * The statuses a reported status may replace: statuses only move forward (sent → delivered →
 * read → clicked), a bounce follows a send or a delivery (a mailbox can refuse after the
 * receiving server accepted), and a provider's late failure only replaces `sent`. A duplicate or
 * out-of-order callback changes nothing.
 */
export const REPLACES: Readonly<Record<NonNullable<MessageChange['status']>, readonly MessageStatus[]>> = {
  delivered: ['sent'],
  read: ['sent', 'delivered'],
  clicked: ['sent', 'delivered', 'read'],
  bounced: ['sent', 'delivered'],
  failed: ['sent'],
};

/** A timeline entry without a status change (a complaint) may go on a message in any status that went out. */
export const WENT_OUT: readonly MessageStatus[] = [
  'sent',
  'delivered',
  'read',
  'clicked',
  'bounced',
  'failed',
];
