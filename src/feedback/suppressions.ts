import type { PersonalData } from '../security/personal-data.ts';
import type { Channel, SubscriberRecord, SuppressionRecord, WorkflowRecord } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import { type AddressChannel, addressHash, addressOf, isAddressChannel } from './address.ts';

/** The suppressed addresses of a batch's subscribers, by subscriber id, then channel. */
export type SubscriberSuppressions = ReadonlyMap<string, Partial<Record<AddressChannel, SuppressionRecord>>>;

export const NO_SUPPRESSIONS: SubscriberSuppressions = new Map();

/** True when some step of the workflow goes to an address (email or SMS): only then is there anything to read. */
export function sendsToAddresses(workflow: WorkflowRecord): boolean {
  return workflow.definition.channels.some((step) => isAddressChannel(step.channel));
}

/**
 * Reads, in one query, which of these subscribers' addresses the tenant has suppressed (guarantee
 * 7: read at delivery and again at send, never cached, so a bounce reported a moment ago holds).
 */
export async function readSuppressions(
  store: Pick<Store, 'suppressionsAmong' | 'personalData'>,
  tenantId: string,
  subscribers: Iterable<
    Pick<SubscriberRecord, 'id' | 'email' | 'phone' | 'hasEmail' | 'hasPhone' | 'emailHash' | 'phoneHash'>
  >,
): Promise<SubscriberSuppressions> {
  const owners = new Map<string, { subscriberId: string; channel: AddressChannel }[]>();
  for (const subscriber of subscribers) {
    for (const channel of ['email', 'sms'] as const) {
      const hash = storedHash(store.personalData, channel, subscriber);
      if (hash === null) continue;
      const list = owners.get(hash);
      if (list) list.push({ subscriberId: subscriber.id, channel });
      else owners.set(hash, [{ subscriberId: subscriber.id, channel }]);
    }
  }
  if (owners.size === 0) return NO_SUPPRESSIONS;
  const found = await store.suppressionsAmong(tenantId, [...owners.keys()]);
  if (found.length === 0) return NO_SUPPRESSIONS;
  const bySubscriber = new Map<string, Partial<Record<AddressChannel, SuppressionRecord>>>();
  for (const suppression of found) {
    for (const owner of owners.get(suppression.addressHash) ?? []) {
      if (owner.channel !== suppression.channel) continue;
      const entry = bySubscriber.get(owner.subscriberId) ?? {};
      entry[owner.channel] = suppression;
      bySubscriber.set(owner.subscriberId, entry);
    }
  }
  return bySubscriber;
}

/**
 * The address's hash as the store keeps it beside the subscriber (no address opened), or, for a
 * record without one (a row from before encryption, not yet sealed), computed from the address.
 */
export function storedHash(
  personal: PersonalData,
  channel: AddressChannel,
  subscriber: Pick<SubscriberRecord, 'email' | 'phone' | 'hasEmail' | 'hasPhone' | 'emailHash' | 'phoneHash'>,
): string | null {
  const stored = channel === 'email' ? subscriber.emailHash : subscriber.phoneHash;
  if (stored) return stored;
  const present = channel === 'email' ? subscriber.hasEmail : subscriber.hasPhone;
  if (present === false) return null;
  const address = addressOf(channel, subscriber);
  return address ? addressHash(personal, channel, address) : null;
}

/** The suppression that holds a subscriber's message on `channel`, or null. */
export function suppressionFor(
  suppressions: SubscriberSuppressions | undefined,
  subscriberId: string,
  channel: Channel,
): SuppressionRecord | null {
  if (!suppressions || suppressions.size === 0 || !isAddressChannel(channel)) return null;
  return suppressions.get(subscriberId)?.[channel] ?? null;
}
