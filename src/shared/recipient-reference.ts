import type { Recipient } from './model.ts';

/** A recipient given inline: a subscriber id with fields to upsert (email, phone, locale…). */
export function isInlineRecipient(
  recipient: Recipient,
): recipient is Extract<Recipient, { subscriberId: string }> {
  return typeof recipient === 'object' && 'subscriberId' in recipient && Object.keys(recipient).length > 1;
}

/**
 * An event's recipients as stored and shown: an inline one named by reference only
 * (`{"subscriberId"}`), its fields being its subscriber's. Events stored by earlier versions kept
 * sealed copies of those fields; they are shown the same way.
 */
export function recipientsByReference(to: readonly Recipient[]): Recipient[] {
  return to.map((recipient) =>
    isInlineRecipient(recipient) ? { subscriberId: recipient.subscriberId } : recipient,
  );
}
