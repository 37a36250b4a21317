import {
  NO_SUPPRESSIONS,
  readSuppressions,
  type SubscriberSuppressions,
  suppressionFor,
} from '../feedback/suppressions.ts';
import type {
  MessageRecord,
  PreferenceChoices,
  SubscriberRecord,
  SuppressionRecord,
  WorkflowRecord,
} from '../shared/model.ts';
import type { Store } from '../store/port.ts';

/**
 * What the send re-check reads about a batch's messages: their workflows, subscribers, the
 * subscribers' choices and the tenants' zones, read once per batch rather than once per message
 * (a batch of 16 sends made 64 store reads before any provider call, now a handful per tenant).
 */
export interface BatchReads {
  workflow(message: MessageRecord): WorkflowRecord | null;
  subscriber(message: MessageRecord): SubscriberRecord | null;
  /** null: the subscriber made no choice at all. */
  preferences(message: MessageRecord): PreferenceChoices | null;
  defaultTimezone(message: MessageRecord): string;
  /** The suppression of the message's address on its channel (a bounce, complaint or STOP), or null. */
  suppression(message: MessageRecord): SuppressionRecord | null;
}

interface TenantReads {
  workflows: Map<string, WorkflowRecord | null>;
  subscribers: Map<string, SubscriberRecord>;
  preferences: ReadonlyMap<string, PreferenceChoices>;
  defaultTimezone: string;
  suppressions: SubscriberSuppressions;
}

/**
 * Reads, for the messages about to be sent (null entries: nothing to send), everything the
 * consent re-check needs. The batch was claimed before these reads and its sends start right
 * after them, so a PATCH that returned before the claim holds for every send of the batch, as it
 * did when each send read on its own (guarantee 7: consent is enforced at send time).
 */
export async function readForSends(
  store: Pick<
    Store,
    'getWorkflow' | 'getSubscribers' | 'getPreferencesFor' | 'getTenantSettings' | 'suppressionsAmong'
  >,
  messages: readonly (MessageRecord | null)[],
): Promise<BatchReads> {
  const wanted = new Map<
    string,
    { subscriberIds: Set<string>; workflowKeys: Set<string>; toAddresses: boolean }
  >();
  for (const message of messages) {
    if (!message) continue;
    let tenant = wanted.get(message.tenantId);
    if (!tenant) {
      tenant = { subscriberIds: new Set(), workflowKeys: new Set(), toAddresses: false };
      wanted.set(message.tenantId, tenant);
    }
    if (message.channel === 'email' || message.channel === 'sms') tenant.toAddresses = true;
    tenant.subscriberIds.add(message.subscriberId);
    tenant.workflowKeys.add(message.workflow);
  }
  const tenants = new Map<string, TenantReads>();
  await Promise.all(
    [...wanted].map(async ([tenantId, { subscriberIds, workflowKeys, toAddresses }]) => {
      const ids = [...subscriberIds];
      const keys = [...workflowKeys];
      const [workflows, subscribers, preferences, settings] = await Promise.all([
        Promise.all(keys.map((key) => store.getWorkflow(tenantId, key))),
        store.getSubscribers(tenantId, ids),
        store.getPreferencesFor(tenantId, ids),
        store.getTenantSettings(tenantId),
      ]);
      tenants.set(tenantId, {
        workflows: new Map(keys.map((key, i) => [key, workflows[i] ?? null])),
        subscribers: new Map(subscribers.map((subscriber) => [subscriber.id, subscriber])),
        preferences,
        defaultTimezone: settings.defaultTimezone,
        // After the subscribers: suppressions are kept by address.
        suppressions: toAddresses ? await readSuppressions(store, tenantId, subscribers) : NO_SUPPRESSIONS,
      });
    }),
  );
  // Every message handed to these was in `messages`, so its tenant was read.
  const of = (message: MessageRecord) => tenants.get(message.tenantId)!;
  return {
    workflow: (message) => of(message).workflows.get(message.workflow) ?? null,
    subscriber: (message) => of(message).subscribers.get(message.subscriberId) ?? null,
    preferences: (message) => of(message).preferences.get(message.subscriberId) ?? null,
    defaultTimezone: (message) => of(message).defaultTimezone,
    suppression: (message) => suppressionFor(of(message).suppressions, message.subscriberId, message.channel),
  };
}
