import { addressHash } from '../feedback/address.ts';
import { isSealedPersonal, type PersonalData } from '../security/personal-data.ts';
import type { EventInput, SubscriberPatch } from '../shared/model.ts';
import { isInlineRecipient, recipientsByReference } from '../shared/recipient-reference.ts';

/**
 * How both stores keep personal fields (API.md "Personal data"): sealed on the way in, opened on
 * the way out, with a keyed hash beside each address for lookups. The adapters call these; no
 * other part of Tidings sees a sealed value.
 */

/** A subscriber patch as stored: email and phone sealed, with their hashes (present only when the field is). */
export interface SealedSubscriberPatch extends Omit<SubscriberPatch, 'email' | 'phone'> {
  email?: string | null;
  phone?: string | null;
  emailHash?: string | null;
  phoneHash?: string | null;
}

/** The stored personal fields of a subscriber row, where the caller has it at hand. */
export interface StoredAddresses {
  email: string | null;
  phone: string | null;
  email_hash: string | null;
  phone_hash: string | null;
}

/**
 * Seals a patch's email and phone. Given the row as stored, an address that did not change (its
 * keyed hash matches, and the stored value is sealed) keeps its sealed value: re-sending to an
 * inline recipient costs a hash, not an encryption.
 */
export function sealSubscriberPatch(
  personal: PersonalData,
  patch: SubscriberPatch,
  stored?: StoredAddresses,
): SealedSubscriberPatch {
  const sealed: SealedSubscriberPatch = { ...patch };
  if (patch.email !== undefined) {
    const hash = patch.email === null ? null : addressHash(personal, 'email', patch.email);
    sealed.emailHash = hash;
    sealed.email =
      patch.email === null
        ? null
        : (reusable(stored?.email, stored?.email_hash, hash) ?? personal.sealAddress(patch.email));
  }
  if (patch.phone !== undefined) {
    const hash = patch.phone === null ? null : addressHash(personal, 'sms', patch.phone);
    sealed.phoneHash = hash;
    sealed.phone =
      patch.phone === null
        ? null
        : (reusable(stored?.phone, stored?.phone_hash, hash) ?? personal.sealAddress(patch.phone));
  }
  return sealed;
}

function reusable(
  value: string | null | undefined,
  storedHash: string | null | undefined,
  hash: string | null,
): string | null {
  return value && storedHash && storedHash === hash && isSealedPersonal(value) ? value : null;
}

/**
 * An event's input as stored: an inline recipient is named by reference only
 * (`{"subscriberId"}`). Its address, locale, zone and data go to the subscriber row accepted with
 * the event, which deliveries read; a copy in the event would be a second sealed address per event
 * for nothing to read.
 */
export function eventInputByReference(input: EventInput): EventInput {
  return input.to.some(isInlineRecipient) ? { ...input, to: recipientsByReference(input.to) } : input;
}

/** Inline subscribers sealed, each against its row as stored when the caller has it. */
export function sealInlineSubscribers<T extends { id: string } & SubscriberPatch>(
  personal: PersonalData,
  inline: readonly T[],
  stored?: (id: string) => StoredAddresses | undefined,
): ({ id: string } & SealedSubscriberPatch)[] {
  return inline.map(({ id, ...patch }) => ({ id, ...sealSubscriberPatch(personal, patch, stored?.(id)) }));
}
