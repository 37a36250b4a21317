import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { fallbackAfterSettled } from '../../pipeline/fallback-timers.ts';
import {
  DID_NOT_GO_OUT,
  RECEIPTS,
  type Receipt,
  receiptEffect,
  receiptMovesFrom,
} from '../../policy/fallback.ts';
import { type MessageRecord, UNSENT } from '../../shared/model.ts';
import { iso } from '../../shared/time.ts';
import { emitReceipt } from '../../webhooks/api-events.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, notFound } from '../errors.ts';
import { IdParams } from '../schemas.ts';

const ReceiptBody = Type.Object(
  { status: Type.Enum([...RECEIPTS], { description: 'delivered < read < clicked' }) },
  { additionalProperties: false },
);

function revivalRefused(message: MessageRecord): ApiError {
  return new ApiError(
    'conflict',
    `message ${message.id} is ${message.status}: it did not reach the recipient, and a receipt does not revive it`,
  );
}

/** What recording a receipt came to. */
export type ReceiptOutcome =
  | { kind: 'recorded'; message: MessageRecord; changed: boolean }
  /** No such message of the tenant (or another subscriber's, for a subscriber's receipt). */
  | { kind: 'not_found' }
  /** The message did not go out (failed, bounced, dead, cancelled, suppressed, rate_limited). */
  | { kind: 'refused'; message: MessageRecord };

export interface ReceiptInput {
  tenantId: string;
  messageId: string;
  /** Set when the subscriber reports it: only their own messages. */
  subscriberId: string | null;
  receipt: Receipt;
  /** Who reported it, for the timeline: `read receipt from <from>`. */
  from: string;
}

/**
 * Records a receipt as every source of one does (the receipt route, the email open pixel and
 * click links: src/api/routes/tracking.ts): status only moves forward (delivered < read <
 * clicked), a message that did not go out is not revived, fallback steps not yet due are stopped
 * (src/pipeline/fallback.ts), and a change is counted, announced to status webhooks and, for an
 * in-app message, to the subscriber's open inboxes.
 */
export async function applyReceipt(context: ApiContext, input: ReceiptInput): Promise<ReceiptOutcome> {
  const { store, signal, inboxFeed } = context;
  const { tenantId, messageId, subscriberId, receipt } = input;
  const message = await store.getMessage(tenantId, messageId);
  if (!message || (subscriberId !== null && message.subscriberId !== subscriberId))
    return { kind: 'not_found' };
  if (receiptEffect(message.status, receipt) === 'refused') return { kind: 'refused', message };
  const now = Date.now();
  // A receipt that overtakes the send's answer settles the step as the send would have: the
  // fallback after it is timed from now (the send's own answer will no longer change the status).
  let followUp: ReturnType<typeof fallbackAfterSettled>;
  if (UNSENT.has(message.status)) {
    const [workflow, event] = await Promise.all([
      store.getWorkflow(tenantId, message.workflow),
      store.getEvent(tenantId, message.eventId),
    ]);
    followUp = fallbackAfterSettled(workflow, message, receipt, event?.priority ?? 'normal', now);
  }
  const result = await store.recordReceipt({
    tenantId,
    id: messageId,
    subscriberId,
    receipt,
    from: receiptMovesFrom(receipt),
    entry: { at: iso(now), status: receipt, detail: `${receipt} receipt from ${input.from}` },
    now,
    followUp,
  });
  if (!result) return { kind: 'not_found' };
  // Settled without going out between the read above and the write: still no revival.
  if (!result.changed && DID_NOT_GO_OUT.has(result.message.status))
    return { kind: 'refused', message: result.message };
  if (result.changed) context.metrics.delivery.message(result.message.channel, result.message.status);
  if (result.changed && followUp) signal.notify(followUp.lane);
  if (result.changed) await emitReceipt(context, result.message, now);
  if (result.changed && result.message.channel === 'in_app' && receipt !== 'delivered')
    inboxFeed.publish([
      { type: 'item.updated', tenantId, subscriberId: result.message.subscriberId, itemId: messageId },
    ]);
  return { kind: 'recorded', message: result.message, changed: result.changed };
}

/**
 * `POST /v1/messages/{messageId}/receipt` (API.md "Receipts"): from the customer's app (server
 * key) or the subscriber's device (subscriber token: their own messages only; another's answers
 * 404, as an unknown one does). Status only moves forward (delivered < read < clicked): an older
 * receipt changes nothing and answers 200 with the status as it stands; a message that did not go
 * out (failed, bounced, dead, cancelled, suppressed, rate_limited) answers 409 `conflict`. Receipts
 * stop fallback steps not yet due (src/pipeline/fallback.ts).
 */
export async function receiptRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const params = IdParams('messageId');

  app.post(
    '/v1/messages/:messageId/receipt',
    { config: { auth: 'server-or-subscriber' }, schema: { params, body: ReceiptBody } },
    async (request) => {
      const { messageId } = request.params as { messageId: string };
      const receipt = (request.body as { status: Receipt }).status;
      const { tenantId, subscriberId } = request;
      const outcome = await applyReceipt(context, {
        tenantId,
        messageId,
        subscriberId,
        receipt,
        from: subscriberId === null ? 'the server' : 'the subscriber',
      });
      if (outcome.kind === 'not_found') throw notFound('message', messageId);
      if (outcome.kind === 'refused') throw revivalRefused(outcome.message);
      return { messageId, status: outcome.message.status };
    },
  );
}
