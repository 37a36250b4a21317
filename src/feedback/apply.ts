import { SOFT_BOUNCE_WINDOW_MS, softBouncesAreHard } from '../policy/suppression.ts';
import { changePreferences } from '../privacy/consent.ts';
import { MANDATORY_CATEGORIES, type MessageRecord, type SuppressionReason } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { ChannelChoicesPatch, ConsentNote, PreferencePatch, Store } from '../store/port.ts';
import { type AddressChannel, addressHash } from './address.ts';
import {
  type AddressFeedback,
  type FeedbackEvent,
  type MessageChange,
  REPLACES,
  WENT_OUT,
} from './events.ts';
import { storedHash } from './suppressions.ts';

/** Told about each message whose status a callback changed (outbound webhooks, fallback steps). */
export type AfterChange = (message: MessageRecord, change: MessageChange, now: number) => Promise<void>;

/** The category a complaint opts the subscriber out of on email, beside the workflow's own. */
export const COMPLAINT_CATEGORY = 'marketing';

/** What applying a callback's events did, for the answer and the logs. */
export interface Applied {
  /** Messages whose status or timeline changed. */
  messages: number;
  /** Addresses newly suppressed or lifted. */
  addresses: number;
  /**
   * Events about a message this tenant does not have (another tenant's, or not yet marked sent),
   * and addresses a report names that are not its message's recipient's.
   */
  unmatched: number;
}

type FeedbackDeps = Pick<
  Store,
  | 'getMessage'
  | 'messageByProviderId'
  | 'applyFeedback'
  | 'suppressAddress'
  | 'liftSuppression'
  | 'countSoftBounce'
  | 'subscribersWithPhone'
  | 'personalData'
  | 'getWorkflow'
  | 'getSubscriber'
  | 'patchPreferences'
  | 'reportApplied'
  | 'recordReport'
>;

/**
 * Makes a verified callback's events true for one tenant, each write effective before the
 * callback is answered (guarantee 7: a bounce, complaint or STOP holds for every send that starts
 * after it). Every step is idempotent, so a provider's retry of the same callback changes nothing.
 */
export async function applyFeedback(
  store: FeedbackDeps,
  tenantId: string,
  events: readonly FeedbackEvent[],
  now: number,
  afterChange?: AfterChange,
): Promise<Applied> {
  const applied: Applied = { messages: 0, addresses: 0, unmatched: 0 };
  for (const [index, event] of events.entries()) {
    // A callback may carry thousands of reports (SendGrid batches up to 768 KB), each a handful of
    // store calls: other requests get the thread between every few.
    if (index > 0 && index % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    // Recorded only once applied: a store failure midway leaves the provider's retry to apply it.
    if (event.once !== undefined && (await store.reportApplied(tenantId, event.once))) continue;
    let message: MessageRecord | null = null;
    if (event.ref) {
      message =
        'messageId' in event.ref
          ? await store.getMessage(tenantId, event.ref.messageId)
          : await store.messageByProviderId(tenantId, event.ref.channel, event.ref.providerMessageId);
      if (!message) {
        applied.unmatched++;
        continue;
      }
    }
    const change = event.change;
    if (message && change && !repeatsEntry(message, change)) {
      const changed = await store.applyFeedback(tenantId, message.id, {
        status: change.status,
        from: change.replaces ?? (change.status === null ? WENT_OUT : REPLACES[change.status]),
        ...(change.reason !== undefined ? { reason: change.reason } : {}),
        ...(change.error !== undefined ? { lastError: change.error } : {}),
        entry: {
          at: iso(now),
          status: change.status ?? change.entryStatus ?? 'feedback',
          detail: change.detail,
        },
        now,
      });
      if (changed) {
        applied.messages++;
        if (change.status !== null) await afterChange?.(message, change, now);
      }
    }
    const recipient = message && event.addresses.length > 0 ? await recipientHashes(store, message) : null;
    for (const address of event.addresses) {
      if (recipient && !isRecipient(store, recipient, address)) {
        applied.unmatched++;
        // The message's own subscriber complained all the same (about an address they have
        // since changed, say): their opt-out holds, only the address is not theirs to suppress.
        if (address.effect === 'complaint' && message)
          await optOutAfterComplaint(store, tenantId, message, now, complaintNote(address, message));
        continue;
      }
      if (await applyToAddress(store, tenantId, address, message, now)) applied.addresses++;
    }
    if (event.once !== undefined) await store.recordReport(tenantId, event.once, now);
  }
  return applied;
}

/** Reports applied between two yields of the thread. */
const YIELD_EVERY = 25;

/**
 * A report that changes no status (a complaint, an entry of its own) and whose entry the timeline
 * already holds, word for word: appended again, a batch of thousands of reports about one message
 * (each its own report id) grew its timeline by thousands of entries, each append rewriting it
 * whole — 7,760 took 22 s.
 */
function repeatsEntry(message: MessageRecord, change: MessageChange): boolean {
  if (change.status !== null) return false;
  const status = change.entryStatus ?? 'feedback';
  return message.timeline.some((entry) => entry.status === status && entry.detail === change.detail);
}

type RecipientHashes = Partial<Record<AddressChannel, string>>;

/**
 * The hashes of the addresses the message's subscriber has now (none once they are erased). A
 * report about a message suppresses only its own recipient's address: an SES report reaches
 * Tidings from whatever SNS topic the callback URL was subscribed to, and an SES message id is no
 * secret to the mail's recipient (it is the Message-ID header's local part), so a recipient
 * publishing to a topic of their own could otherwise bounce the tenant's other addresses.
 */
async function recipientHashes(store: FeedbackDeps, message: MessageRecord): Promise<RecipientHashes> {
  const subscriber = await store.getSubscriber(message.tenantId, message.subscriberId);
  if (!subscriber) return {};
  const hashes: RecipientHashes = {};
  for (const channel of ['email', 'sms'] as const) {
    const hash = storedHash(store.personalData, channel, subscriber);
    if (hash !== null) hashes[channel] = hash;
  }
  return hashes;
}

function isRecipient(store: FeedbackDeps, recipient: RecipientHashes, feedback: AddressFeedback): boolean {
  return recipient[feedback.channel] === addressHash(store.personalData, feedback.channel, feedback.address);
}

async function applyToAddress(
  store: FeedbackDeps,
  tenantId: string,
  feedback: AddressFeedback,
  message: MessageRecord | null,
  now: number,
): Promise<boolean> {
  const { channel } = feedback;
  const hash = addressHash(store.personalData, channel, feedback.address);
  // The consent log of the subscriber the message went to (STOP and START: of everyone with the number).
  const about = message ? ` (message ${message.id})` : '';
  const holders = message ? [message.subscriberId] : [];
  const suppress = (
    reason: SuppressionReason,
    detail: string,
    note: ConsentNote,
    subscriberIds: readonly string[] = holders,
  ) =>
    store.suppressAddress(
      { tenantId, channel, addressHash: hash, reason, detail, createdAt: now },
      { ...note, subscriberIds },
    );
  switch (feedback.effect) {
    case 'hard_bounce':
      return suppress('hard_bounce', feedback.detail, {
        source: 'bounce',
        detail: `hard bounce${about}: ${feedback.detail}`,
      });
    case 'soft_bounce': {
      // Counted once per bounced message, so a provider's retry of one callback is one bounce.
      const ref = message?.id ?? `${now}`;
      const count = await store.countSoftBounce(
        tenantId,
        channel,
        hash,
        ref,
        now,
        now - SOFT_BOUNCE_WINDOW_MS,
      );
      if (!softBouncesAreHard(count)) return false;
      const detail = `${count} soft bounces within 7 days, the last: ${feedback.detail}`;
      return suppress('soft_bounces', detail, { source: 'bounce', detail: `${detail}${about}` });
    }
    case 'complaint': {
      const note = complaintNote(feedback, message);
      const added = await suppress('complaint', feedback.detail, note);
      if (message) await optOutAfterComplaint(store, tenantId, message, now, note);
      return added;
    }
    case 'stop':
    case 'start': {
      const stop = feedback.effect === 'stop';
      const holders = await store.subscribersWithPhone(tenantId, feedback.address);
      const note: ConsentNote = {
        source: 'sms_stop',
        detail: `${stop ? 'STOP' : 'START'}: ${feedback.detail}`,
      };
      const changed = stop
        ? await suppress('sms_stop', feedback.detail, note, holders)
        : await store.liftSuppression(tenantId, channel, hash, 'sms_stop', {
            ...note,
            subscriberIds: holders,
          });
      // The preference shows it too (GET preferences), for every subscriber with that number.
      const choice: ChannelChoicesPatch = { sms: !stop };
      for (const subscriberId of holders)
        await changePreferences(store, { tenantId, subscriberId, patch: { channels: choice }, now, ...note });
      return changed;
    }
  }
}

function complaintNote(feedback: AddressFeedback, message: MessageRecord | null): ConsentNote {
  const about = message ? ` (message ${message.id})` : '';
  return { source: 'complaint', detail: `complaint${about}: ${feedback.detail}` };
}

/**
 * A spam complaint also opts the subscriber out of marketing email, and of the complained-about
 * workflow's own category when that is another one a subscriber may leave (never
 * `transactional` or `security`). An erased subscriber gets no preference row back.
 */
async function optOutAfterComplaint(
  store: FeedbackDeps,
  tenantId: string,
  message: MessageRecord,
  now: number,
  note: ConsentNote,
): Promise<void> {
  if (!(await store.getSubscriber(tenantId, message.subscriberId))) return;
  const category = (await store.getWorkflow(tenantId, message.workflow))?.definition.category;
  // Built with computed keys, never `categories[category] = …`: a category named `__proto__`
  // would set the prototype instead, and the opt-out would be lost.
  const categories: NonNullable<PreferencePatch['categories']> = {
    [COMPLAINT_CATEGORY]: { email: false },
    ...(category && !MANDATORY_CATEGORIES.has(category) ? { [category]: { email: false } } : {}),
  };
  await changePreferences(store, {
    tenantId,
    subscriberId: message.subscriberId,
    patch: { categories },
    now,
    ...note,
  });
}
