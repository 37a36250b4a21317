import { addressHash } from '../feedback/address.ts';
import type { PersonalData } from '../security/personal-data.ts';
import type { EventInput, SubscriberPatch } from '../shared/model.ts';

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

export function sealSubscriberPatch(personal: PersonalData, patch: SubscriberPatch): SealedSubscriberPatch {
  const sealed: SealedSubscriberPatch = { ...patch };
  if (patch.email !== undefined) {
    sealed.email = patch.email === null ? null : personal.seal(patch.email);
    sealed.emailHash = patch.email === null ? null : addressHash(personal, 'email', patch.email);
  }
  if (patch.phone !== undefined) {
    sealed.phone = patch.phone === null ? null : personal.seal(patch.phone);
    sealed.phoneHash = patch.phone === null ? null : addressHash(personal, 'sms', patch.phone);
  }
  return sealed;
}

/**
 * An event's input as stored: inline recipients' email and phone replaced by their sealed values
 * (the ones sealed for the subscriber rows, by id, so nothing is sealed twice). Nothing reads the
 * addresses back from an event: deliveries read the subscriber.
 */
export function sealEventInput(
  input: EventInput,
  sealedById: ReadonlyMap<string, SealedSubscriberPatch>,
): EventInput {
  if (sealedById.size === 0) return input;
  return {
    ...input,
    to: input.to.map((recipient) => {
      if (typeof recipient !== 'object' || !('subscriberId' in recipient)) return recipient;
      if (recipient.email === undefined && recipient.phone === undefined) return recipient;
      const sealed = sealedById.get(recipient.subscriberId);
      const copy = { ...recipient };
      if (copy.email !== undefined) copy.email = (sealed?.email ?? undefined) as string;
      if (copy.phone !== undefined) copy.phone = (sealed?.phone ?? undefined) as string;
      return copy;
    }),
  };
}

/** Inline subscribers sealed, and by id (the last patch of an id is the one stored last). */
export function sealInlineSubscribers<T extends { id: string } & SubscriberPatch>(
  personal: PersonalData,
  inline: readonly T[],
): { sealed: ({ id: string } & SealedSubscriberPatch)[]; byId: Map<string, SealedSubscriberPatch> } {
  const byId = new Map<string, SealedSubscriberPatch>();
  const sealed = inline.map(({ id, ...patch }) => {
    const one = sealSubscriberPatch(personal, patch);
    byId.set(id, one);
    return { id, ...one };
  });
  return { sealed, byId };
}
