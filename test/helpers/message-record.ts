import type { MessageRecord } from '../../src/shared/model.ts';

/**
 * A whole message record for store and inbox tests: an in-app item delivered at 1000, with
 * nothing read, archived or failed; `over` names what a test cares about.
 */
export function messageRecord(
  over: Partial<MessageRecord> & Pick<MessageRecord, 'tenantId' | 'id'>,
): MessageRecord {
  return {
    eventId: `evt_${over.id}`,
    subscriberId: 'u1',
    channel: 'in_app',
    workflow: 'welcome',
    status: 'delivered',
    provider: 'inbox',
    content: {},
    data: {},
    timeline: [],
    eventAt: 1000,
    createdAt: 1000,
    updatedAt: 1000,
    seenAt: null,
    readAt: null,
    archivedAt: null,
    lastError: null,
    reason: null,
    ...over,
  };
}
