import type { PersonalData } from '../security/personal-data.ts';
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
export function normaliseAddress(channel: AddressChannel, address: string): string {
  const trimmed = address.trim();
  return channel === 'email' ? trimmed.toLowerCase() : trimmed;
}

/**
 * The key a suppression is stored under, and the subscriber's `email_hash` / `phone_hash`: a keyed
 * hash (HMAC under the installation's data key) of the normalised address, so no table holds an
 * address in plain text, and whoever holds the database without the master secret cannot test
 * guessed addresses against it.
 */
export function addressHash(personal: PersonalData, channel: AddressChannel, address: string): string {
  return personal.hash(`address:${channel}`, normaliseAddress(channel, address));
}

const EMAIL_LIKE = /[^\s<>()[\]{},;:"'`]+@[^\s<>()[\]{},;:"'`]+/g;
const PHONE_LIKE = /\+\d[\d ().-]{6,}\d|\b\d{8,}\b/g;

/**
 * Provider words with every email address and phone number in them replaced: a bounce's
 * diagnostic ("550 5.1.1 <ada@example.com>: user unknown") goes into timelines, the message's
 * error and the suppression's detail, which keep no address (API.md "Personal data").
 */
export function withoutAddresses(words: string): string {
  return words.replace(EMAIL_LIKE, '<address>').replace(PHONE_LIKE, '<number>');
}

/** The subscriber's address on an address channel, or null. */
export function addressOf(channel: AddressChannel, subscriber: Pick<SubscriberRecord, 'email' | 'phone'>) {
  return channel === 'email' ? subscriber.email : subscriber.phone;
}
