import { type Channel, type MessageRecord, UNSENT_STATUSES, type WorkflowRecord } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { Store } from '../store/port.ts';

/** The steps `skipIfOnline` applies to: the ones that interrupt a person who is looking already. */
export const PRESENCE_AWARE_CHANNELS: ReadonlySet<Channel> = new Set(['push', 'webpush', 'sms', 'email']);

/**
 * `skipIfOnline` (API.md workflow steps): right before the provider call, a message of a step that
 * asks for it is suppressed with reason `online` when the subscriber has a live inbox connection
 * (SSE or WebSocket) in any process — the in-app item is the delivery. Presence is read from the
 * store (src/inbox/presence.ts keeps it), so a worker in another thread or process sees it.
 * The step is found by channel in the workflow as it stands (a message is one per channel of an
 * event). Answers whether the message was suppressed.
 */
export async function suppressIfOnline(
  store: Pick<Store, 'isOnline' | 'updateMessage'>,
  message: MessageRecord,
  workflow: WorkflowRecord | null,
): Promise<boolean> {
  if (!workflow || !PRESENCE_AWARE_CHANNELS.has(message.channel)) return false;
  const step = workflow.definition.channels.find((s) => s.channel === message.channel);
  if (!step?.skipIfOnline) return false;
  const now = Date.now();
  if (!(await store.isOnline(message.tenantId, message.subscriberId, now))) return false;
  await store.updateMessage(message.tenantId, message.id, {
    status: 'suppressed',
    reason: 'online',
    lastError: null,
    append: [
      { at: iso(now), status: 'suppressed', detail: 'skipIfOnline: the subscriber has the inbox open' },
    ],
    now,
    // Not over a cancel that came first (the send stops all the same).
    onlyFrom: UNSENT_STATUSES,
  });
  return true;
}
