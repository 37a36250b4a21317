import type { MessageRecord, MessageStatus } from '../shared/model.ts';

/** What an endpoint can subscribe to (API.md "Receipts, feedback, unsubscribe"). */
export const ENDPOINT_EVENT_TYPES = [
  'message.sent',
  'message.delivered',
  'message.read',
  'message.clicked',
  'message.failed',
  'message.dead',
  'message.bounced',
  'subscriber.unsubscribed',
] as const;
export type EndpointEventType = (typeof ENDPOINT_EVENT_TYPES)[number];

/** The type of `POST /v1/webhook-endpoints/{id}/test`: sent to that endpoint whatever it subscribed to. */
export const PING = 'ping';

/** The body a receiver gets: `webhook-id` and signatures travel in headers. */
export interface EndpointEventBody {
  type: EndpointEventType | typeof PING;
  /** When it happened (ISO 8601), not when this attempt was made (that is `webhook-timestamp`). */
  timestamp: string;
  data: Record<string, unknown>;
}

const BY_STATUS: Partial<Record<MessageStatus, EndpointEventType>> = {
  sent: 'message.sent',
  delivered: 'message.delivered',
  read: 'message.read',
  clicked: 'message.clicked',
  failed: 'message.failed',
  dead: 'message.dead',
  bounced: 'message.bounced',
};

/** The event a message's new status is, or null when receivers are not told about that status. */
export function messageEventType(status: MessageStatus): EndpointEventType | null {
  return BY_STATUS[status] ?? null;
}

/** What a message event carries: the message as it stands after the change. */
export interface MessageEventFacts {
  status: MessageStatus;
  reason?: string | null;
  provider?: string | null;
  providerMessageId?: string | null;
  error?: string | null;
}

export function messageEventData(
  message: Pick<MessageRecord, 'id' | 'eventId' | 'subscriberId' | 'channel' | 'workflow'>,
  facts: MessageEventFacts,
): Record<string, unknown> {
  const data: Record<string, unknown> = {
    messageId: message.id,
    eventId: message.eventId,
    subscriberId: message.subscriberId,
    channel: message.channel,
    workflow: message.workflow,
    status: facts.status,
  };
  if (facts.reason) data.reason = facts.reason;
  if (facts.provider) data.provider = facts.provider;
  if (facts.providerMessageId) data.providerMessageId = facts.providerMessageId;
  if (facts.error) data.error = facts.error;
  return data;
}
