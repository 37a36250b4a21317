import { createHash } from 'node:crypto';
import type { Channel, SubscriberRecord } from '../shared/model.ts';

/** The channels whose messages go to an address a provider can report on (bounce, complaint, STOP). */
export type AddressChannel = 'email' | 'sms';

export function isAddressChannel(channel: Channel): channel is AddressChannel {
  return channel === 'email' || channel === 'sms';
}

/**
 * An address as suppressions compare it: emails trimmed and lower-cased (mailbox providers treat
 * the local part case-insensitively, and a bounce reports the address in whatever case it was
 * sent), phone numbers trimmed (E.164, as subscribers store them).
 */
function normaliseAddress(channel: AddressChannel, address: string): string {
  const trimmed = address.trim();
  return channel === 'email' ? trimmed.toLowerCase() : trimmed;
}

/**
 * The key a suppression is stored under: a SHA-256 of the normalised address, so the table holds
 * no address in plain text and its index stays small (like devices' `address_hash`). Not keyed:
 * whoever holds the database and guesses an address can test it, as they could read the
 * subscriber row itself today.
 */
export function addressHash(channel: AddressChannel, address: string): string {
  return createHash('sha256').update(normaliseAddress(channel, address)).digest('hex');
}

/** The subscriber's address on an address channel, or null. */
export function addressOf(channel: AddressChannel, subscriber: Pick<SubscriberRecord, 'email' | 'phone'>) {
  return channel === 'email' ? subscriber.email : subscriber.phone;
}
