import { withoutAddresses } from './address.ts';
import type { FeedbackEvent, MessageRef } from './events.ts';

type Json = Record<string, unknown>;

const object = (value: unknown): Json | null =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const list = (value: unknown): Json[] =>
  Array.isArray(value)
    ? value.flatMap((v): Json[] => {
        const found = object(v);
        return found ? [found] : [];
      })
    : [];

/** Keeps provider words short in timelines. */
const short = (text: string) => {
  const words = withoutAddresses(text);
  return words.length > 200 ? `${words.slice(0, 199)}…` : words;
};

/**
 * Reads an SES notification (the `Message` of an SNS Notification: identity notifications carry
 * `notificationType`, configuration-set event publishing `eventType`):
 * - Bounce, Permanent → bounced (`bad_address`), each bounced recipient a hard bounce.
 * - Bounce, Transient or Undetermined → bounced (`provider_rejected`), each a soft bounce.
 * - Complaint → a `complaint` timeline entry, each complaining recipient a complaint.
 * - Delivery → delivered; Open → read; Click → clicked; Reject → failed.
 * Anything else (Send, DeliveryDelay, Rendering Failure…) says nothing new. A body that is not an
 * SES notification answers no events.
 */
export function sesEvents(message: string): FeedbackEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return [];
  }
  const notification = object(parsed);
  const mail = object(notification?.mail);
  const messageId = text(mail?.messageId);
  if (!notification || !messageId) return [];
  const ref = { providerMessageId: messageId, channel: 'email' } as const;
  const type = text(notification.notificationType) ?? text(notification.eventType);
  switch (type) {
    case 'Delivery': {
      const smtp = text(object(notification.delivery)?.smtpResponse);
      const detail = `SES: delivered${smtp ? ` (${short(smtp)})` : ''}`;
      return [{ ref, change: { status: 'delivered', detail }, addresses: [] }];
    }
    case 'Open':
      return [{ ref, change: { status: 'read', detail: 'SES: opened' }, addresses: [] }];
    case 'Click':
      return [{ ref, change: { status: 'clicked', detail: 'SES: link clicked' }, addresses: [] }];
    case 'Reject': {
      const error = 'SES rejected the message';
      const change = {
        status: 'failed',
        reason: 'provider_rejected',
        error,
        detail: 'SES: rejected',
      } as const;
      return [{ ref, change, addresses: [] }];
    }
    case 'Bounce':
      return bounceEvents(ref, object(notification.bounce));
    case 'Complaint':
      return complaintEvents(ref, object(notification.complaint));
    default:
      return [];
  }
}

function bounceEvents(ref: MessageRef, bounce: Json | null): FeedbackEvent[] {
  const bounceType = text(bounce?.bounceType) ?? 'Undetermined';
  const subType = text(bounce?.bounceSubType);
  const hard = bounceType === 'Permanent';
  const kind = `${bounceType}${subType ? `/${subType}` : ''}`;
  const recipients = list(bounce?.bouncedRecipients);
  const diagnostic = recipients.map((r) => text(r.diagnosticCode)).find((code) => code !== null);
  const error = short(`SES bounce ${kind}${diagnostic ? `: ${diagnostic}` : ''}`);
  const effect = hard ? 'hard_bounce' : 'soft_bounce';
  return [
    {
      ref,
      change: {
        status: 'bounced',
        reason: hard ? 'bad_address' : 'provider_rejected',
        error,
        detail: `SES: ${hard ? 'hard' : 'soft'} bounce (${kind})`,
      },
      addresses: recipients.flatMap((recipient) => {
        const address = text(recipient.emailAddress);
        return address ? [{ channel: 'email' as const, address, effect, detail: error }] : [];
      }),
    },
  ];
}

function complaintEvents(ref: MessageRef, complaint: Json | null): FeedbackEvent[] {
  const feedbackType = text(complaint?.complaintFeedbackType);
  const detail = `SES: complaint${feedbackType ? ` (${feedbackType})` : ''}`;
  return [
    {
      ref,
      change: { status: null, entryStatus: 'complaint', detail },
      addresses: list(complaint?.complainedRecipients).flatMap((recipient) => {
        const address = text(recipient.emailAddress);
        return address ? [{ channel: 'email' as const, address, effect: 'complaint' as const, detail }] : [];
      }),
    },
  ];
}
