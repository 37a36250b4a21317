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
  /** The consent version of the message's tenant read before all of the above (Store.consentVersions). */
  consentVersion(message: MessageRecord): number;
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

type SendReadsStore = Pick<
  Store,
  | 'getWorkflow'
  | 'getSubscribers'
  | 'getPreferencesFor'
  | 'getTenantSettings'
  | 'activeDevicesOf'
  | 'suppressionsAmong'
  | 'personalData'
  | 'cancelledEvents'
  | 'consentVersions'
>;

/** The tenants of these messages. */
function tenantsOf(messages: readonly MessageRecord[]): string[] {
  return [...new Set(messages.map((message) => message.tenantId))];
}

/**
 * Reads, for the messages about to be sent (null entries: nothing to send), everything the
 * consent decision needs. `consent`: the tenants' consent versions, read before this is called,
 * so that reads here are at least as new as them.
 */
export async function readForSends(
  store: SendReadsStore,
  messages: readonly (MessageRecord | null)[],
  consent: ReadonlyMap<string, number>,
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
    consentVersion: (message) => consent.get(message.tenantId) ?? 0,
  };
}

/**
 * The consent reads of one message that was just recorded `sending`, made after that record
 * committed: `batch` itself when its tenant's consent version has not moved since the batch read
 * it (nothing consent depends on changed), else new reads. The messages asked about in the same
 * turn of the event loop (a batch's `sending` records commit together) share one version read
 * and one set of new reads, which start after the turn of their last caller, so they see
 * everything committed before any of them asked.
 */
export function readsAfterSending(
  store: SendReadsStore,
): (message: MessageRecord, batch: BatchReads) => Promise<BatchReads> {
  type Asked = {
    message: MessageRecord;
    batch: BatchReads;
    resolve(reads: BatchReads): void;
    reject(error: unknown): void;
  };
  let gathering: Asked[] | null = null;
  async function answer(asked: Asked[]): Promise<void> {
    try {
      const messages = asked.map((a) => a.message);
      const versions = await store.consentVersions(tenantsOf(messages));
      const moved = asked.filter(
        (a) => versions.get(a.message.tenantId) !== a.batch.consentVersion(a.message),
      );
      const fresh =
        moved.length === 0
          ? null
          : await readForSends(
              store,
              moved.map((a) => a.message),
              versions,
            );
      for (const a of asked) a.resolve(fresh && moved.includes(a) ? fresh : a.batch);
    } catch (error) {
      for (const a of asked) a.reject(error);
    }
  }
  return (message, batch) =>
    new Promise<BatchReads>((resolve, reject) => {
      if (!gathering) {
        const asked: Asked[] = [];
        gathering = asked;
        setImmediate(() => {
          gathering = null;
          void answer(asked);
        });
      }
      gathering.push({ message, batch, resolve, reject });
    });
}
