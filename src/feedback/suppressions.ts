import type { Channel, SubscriberRecord, SuppressionRecord, WorkflowRecord } from '../shared/model.ts';
import type { FeedbackStore } from '../store/port.ts';
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
  store: Pick<FeedbackStore, 'suppressionsAmong'>,
  tenantId: string,
  subscribers: Iterable<Pick<SubscriberRecord, 'id' | 'email' | 'phone'>>,
): Promise<SubscriberSuppressions> {
  const owners = new Map<string, { subscriberId: string; channel: AddressChannel }[]>();
  for (const subscriber of subscribers) {
    for (const channel of ['email', 'sms'] as const) {
      const address = addressOf(channel, subscriber);
      if (!address) continue;
      const hash = addressHash(channel, address);
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

/** The suppression that holds a subscriber's message on `channel`, or null. */
export function suppressionFor(
  suppressions: SubscriberSuppressions | undefined,
  subscriberId: string,
  channel: Channel,
): SuppressionRecord | null {
  if (!suppressions || suppressions.size === 0 || !isAddressChannel(channel)) return null;
  return suppressions.get(subscriberId)?.[channel] ?? null;
}
