import { withoutAddresses } from './address.ts';
import {
  type AddressFeedback,
  type FeedbackEvent,
  type MessageChange,
  type MessageRef,
  oncePerReport,
} from './events.ts';

type Json = Record<string, unknown>;

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const short = (text: string) => {
  const words = withoutAddresses(text);
  return words.length > 200 ? `${words.slice(0, 199)}…` : words;
};

/**
 * The message an event is about: the `tidings_message_id` custom arg the adapter sends
 * (src/channels/email/sendgrid.ts), else `sg_message_id` up to its first dot — SendGrid appends
 * `.filter…` to the X-Message-Id it answered the send with (our providerMessageId).
 */
function refOf(event: Json): MessageRef | null {
  const ours = text(event.tidings_message_id);
  if (ours) return { messageId: ours };
  const theirs = text(event.sg_message_id)?.split('.')[0];
  return theirs ? { providerMessageId: theirs, channel: 'email' } : null;
}

/** A drop's reason decides what it says about the address (SendGrid's own suppression lists). */
function dropped(reason: string): {
  reason: 'bad_address' | 'opted_out' | 'provider_rejected';
  hard: boolean;
} {
  if (/bounced address|invalid/i.test(reason)) return { reason: 'bad_address', hard: true };
  if (/unsubscribed|spam report/i.test(reason)) return { reason: 'opted_out', hard: false };
  return { reason: 'provider_rejected', hard: false };
}

/**
 * Reads one event of a SendGrid Event Webhook batch (signature already checked):
 * - delivered → delivered; open → read; click → clicked.
 * - bounce → bounced: type `blocked` (the receiving server refused for now) is a soft bounce of
 *   the address, any other bounce a hard one (`bad_address`).
 * - dropped → failed (SendGrid never sent it): `Bounced Address`/`Invalid` is a hard bounce,
 *   `Unsubscribed`/`Spam Reporting` an opt-out, the rest `provider_rejected`.
 * - spamreport → a `complaint` timeline entry and a complaint of the address.
 * Others (processed, deferred, unsubscribe…) say nothing new.
 */
function eventOf(event: Json): FeedbackEvent | null {
  const ref = refOf(event);
  const kind = text(event.event);
  if (!ref || !kind) return null;
  const email = text(event.email);
  const words = short(text(event.reason) ?? text(event.response) ?? '');
  const address = (effect: AddressFeedback['effect'], detail: string): AddressFeedback[] =>
    email ? [{ channel: 'email', address: email, effect, detail }] : [];
  const one = (change: MessageChange, addresses: AddressFeedback[] = []): FeedbackEvent => ({
    ref,
    change,
    addresses,
  });
  switch (kind) {
    case 'delivered':
      return one({ status: 'delivered', detail: `SendGrid: delivered${words ? ` (${words})` : ''}` });
    case 'open':
      return one({ status: 'read', detail: 'SendGrid: opened' });
    case 'click':
      return one({ status: 'clicked', detail: 'SendGrid: link clicked' });
    case 'bounce': {
      const soft = text(event.type) === 'blocked';
      const error = `SendGrid ${soft ? 'blocked' : 'bounce'}${words ? `: ${words}` : ''}`;
      return one(
        {
          status: 'bounced',
          reason: soft ? 'provider_rejected' : 'bad_address',
          error,
          detail: `SendGrid: ${soft ? 'soft' : 'hard'} bounce`,
        },
        address(soft ? 'soft_bounce' : 'hard_bounce', error),
      );
    }
    case 'dropped': {
      const verdict = dropped(words);
      const error = `SendGrid dropped it${words ? `: ${words}` : ''}`;
      return one(
        { status: 'failed', reason: verdict.reason, error, detail: error },
        verdict.hard ? address('hard_bounce', error) : [],
      );
    }
    case 'spamreport':
      return one(
        { status: null, entryStatus: 'complaint', detail: 'SendGrid: spam report' },
        address('complaint', 'SendGrid: spam report'),
      );
    default:
      return null;
  }
}

/** Reads a SendGrid Event Webhook body (a JSON array of events); null when it is not one. */
export function sendgridEvents(body: string): FeedbackEvent[] | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed)) return null;
  const ids = new Map<FeedbackEvent, unknown>();
  const events = parsed.flatMap((item) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return [];
    const event = eventOf(item as Json);
    if (event) ids.set(event, (item as Json).sg_event_id);
    return event ? [event] : [];
  });
  // sg_event_id: SendGrid's id of each event, "for deduplication".
  return oncePerReport(events, 'sendgrid', (event) => ids.get(event));
}
