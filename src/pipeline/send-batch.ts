import {
  NO_SUPPRESSIONS,
  readSuppressions,
  type SubscriberSuppressions,
  suppressionFor,
} from '../feedback/suppressions.ts';
import type {
  DeviceRecord,
  MessageRecord,
  PreferenceChoices,
  SubscriberRecord,
  SuppressionRecord,
  WorkflowRecord,
} from '../shared/model.ts';
import type { Store } from '../store/port.ts';

/**
 * What the send re-check reads about a batch's messages: their workflows, subscribers, the
 * subscribers' choices, the tenants' zones and the active devices the messages go to, read once
 * per batch rather than once per message
 * (a batch of 16 sends made 64 store reads before any provider call, now a handful per tenant).
 */
export interface BatchReads {
  workflow(message: MessageRecord): WorkflowRecord | null;
  subscriber(message: MessageRecord): SubscriberRecord | null;
  /** null: the subscriber made no choice at all. */
  preferences(message: MessageRecord): PreferenceChoices | null;
  defaultTimezone(message: MessageRecord): string;
  /**
   * The message's device (`deviceId`) if it is active; null when it is not among the active ones
   * (deactivated or removed since the message was queued) or the message has none.
   */
  device(message: MessageRecord): DeviceRecord | null;
  /** The suppression of the message's address on its channel (a bounce, complaint or STOP), or null. */
  suppression(message: MessageRecord): SuppressionRecord | null;
  /**
   * The message's event was cancelled (DELETE /v1/events, by key, its workflow deleted). The
   * cancel stops the messages that exist when it commits; this catches one a delivery already
   * under way wrote after it.
   */
  eventCancelled(message: MessageRecord): boolean;
}

const DEVICE_PLATFORMS = ['apns', 'fcm', 'webpush'] as const;

interface TenantReads {
  workflows: Map<string, WorkflowRecord | null>;
  subscribers: Map<string, SubscriberRecord>;
  preferences: ReadonlyMap<string, PreferenceChoices>;
  defaultTimezone: string;
  /** Active devices of the batch's device messages, by subscriber id and device id. */
  devices: Map<string, DeviceRecord>;
  suppressions: SubscriberSuppressions;
  cancelledEvents: ReadonlySet<string>;
}

const deviceKey = (subscriberId: string, deviceId: string) => `${subscriberId}\u0000${deviceId}`;

/**
 * Reads, for the messages about to be sent (null entries: nothing to send), everything the
 * consent re-check needs. The batch was claimed before these reads and its sends start right
 * after them, so a PATCH that returned before the claim holds for every send of the batch, as it
 * did when each send read on its own (guarantee 7: consent is enforced at send time).
 */
export async function readForSends(
  store: Pick<
    Store,
    | 'getWorkflow'
    | 'getSubscribers'
    | 'getPreferencesFor'
    | 'getTenantSettings'
    | 'activeDevicesOf'
    | 'suppressionsAmong'
    | 'personalData'
    | 'cancelledEvents'
  >,
  messages: readonly (MessageRecord | null)[],
): Promise<BatchReads> {
  const wanted = new Map<
    string,
    {
      subscriberIds: Set<string>;
      workflowKeys: Set<string>;
      eventIds: Set<string>;
      deviceOwners: Set<string>;
      toAddresses: boolean;
    }
  >();
  for (const message of messages) {
    if (!message) continue;
    let tenant = wanted.get(message.tenantId);
    if (!tenant) {
      tenant = {
        subscriberIds: new Set(),
        workflowKeys: new Set(),
        eventIds: new Set(),
        deviceOwners: new Set(),
        toAddresses: false,
      };
      wanted.set(message.tenantId, tenant);
    }
    if (message.channel === 'email' || message.channel === 'sms') tenant.toAddresses = true;
    tenant.subscriberIds.add(message.subscriberId);
    tenant.workflowKeys.add(message.workflow);
    tenant.eventIds.add(message.eventId);
    if (message.deviceId) tenant.deviceOwners.add(message.subscriberId);
  }
  const tenants = new Map<string, TenantReads>();
  await Promise.all(
    [...wanted].map(
      async ([tenantId, { subscriberIds, workflowKeys, eventIds, deviceOwners, toAddresses }]) => {
        const ids = [...subscriberIds];
        const keys = [...workflowKeys];
        const [workflows, subscribers, preferences, settings, devices, cancelled] = await Promise.all([
          Promise.all(keys.map((key) => store.getWorkflow(tenantId, key))),
          store.getSubscribers(tenantId, ids),
          store.getPreferencesFor(tenantId, ids),
          store.getTenantSettings(tenantId),
          deviceOwners.size === 0 ? [] : store.activeDevicesOf(tenantId, [...deviceOwners], DEVICE_PLATFORMS),
          // A broadcast's batch is one event: one small read.
          store.cancelledEvents(tenantId, [...eventIds]),
        ]);
        tenants.set(tenantId, {
          workflows: new Map(keys.map((key, i) => [key, workflows[i] ?? null])),
          subscribers: new Map(subscribers.map((subscriber) => [subscriber.id, subscriber])),
          preferences,
          defaultTimezone: settings.defaultTimezone,
          devices: new Map(devices.map((d) => [deviceKey(d.subscriberId, d.id), d])),
          cancelledEvents: new Set(cancelled),
          // After the subscribers: suppressions are kept by address.
          suppressions: toAddresses ? await readSuppressions(store, tenantId, subscribers) : NO_SUPPRESSIONS,
        });
      },
    ),
  );
  // Every message handed to these was in `messages`, so its tenant was read.
  const of = (message: MessageRecord) => tenants.get(message.tenantId)!;
  return {
    workflow: (message) => of(message).workflows.get(message.workflow) ?? null,
    subscriber: (message) => of(message).subscribers.get(message.subscriberId) ?? null,
    preferences: (message) => of(message).preferences.get(message.subscriberId) ?? null,
    defaultTimezone: (message) => of(message).defaultTimezone,
    device: (message) =>
      message.deviceId
        ? (of(message).devices.get(deviceKey(message.subscriberId, message.deviceId)) ?? null)
        : null,
    suppression: (message) => suppressionFor(of(message).suppressions, message.subscriberId, message.channel),
    eventCancelled: (message) => of(message).cancelledEvents.has(message.eventId),
  };
}

/**
 * readForSends for one message at a time, answered by one read for all the messages asked for in
 * the same turn of the event loop (a batch's `sending` records commit together, so their checks
 * come together). Each read starts after the turn of its last caller, so it sees everything
 * committed before any of them asked.
 */
export function coalescedReads(
  store: Parameters<typeof readForSends>[0],
): (message: MessageRecord) => Promise<BatchReads> {
  let gathering: { messages: MessageRecord[]; reads: Promise<BatchReads> } | null = null;
  return (message) => {
    if (!gathering) {
      const messages: MessageRecord[] = [];
      const reads = new Promise<BatchReads>((resolve, reject) => {
        setImmediate(() => {
          gathering = null;
          readForSends(store, messages).then(resolve, reject);
        });
      });
      gathering = { messages, reads };
    }
    gathering.messages.push(message);
    return gathering.reads;
  };
}
