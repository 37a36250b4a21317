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
import type { MessageRecord } from '../../shared/model.ts';
import { iso } from '../../shared/time.ts';
import { emitReceipt } from '../../webhooks/api-events.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, notFound } from '../errors.ts';
import { IdParams } from '../schemas.ts';

const ReceiptBody = Type.Object(
  { status: Type.Enum([...RECEIPTS], { description: 'delivered < read < clicked' }) },
  { additionalProperties: false },
);

/** Statuses whose send has not settled yet: a receipt for one settles it (and times its fallback). */
const UNSENT = new Set(['queued', 'deferred', 'sending']);

function revivalRefused(message: MessageRecord): ApiError {
  return new ApiError(
    'conflict',
    `message ${message.id} is ${message.status}: it did not reach the recipient, and a receipt does not revive it`,
  );
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
  const { store, signal, inboxFeed } = context;
  const params = IdParams('messageId');

  app.post(
    '/v1/messages/:messageId/receipt',
    { config: { auth: 'server-or-subscriber' }, schema: { params, body: ReceiptBody } },
    async (request) => {
      const { messageId } = request.params as { messageId: string };
      const receipt = (request.body as { status: Receipt }).status;
      const { tenantId, subscriberId } = request;
      const message = await store.getMessage(tenantId, messageId);
      if (!message || (subscriberId !== null && message.subscriberId !== subscriberId))
        throw notFound('message', messageId);
      if (receiptEffect(message.status, receipt) === 'refused') throw revivalRefused(message);
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
      const from = subscriberId === null ? 'the server' : 'the subscriber';
      const result = await store.recordReceipt({
        tenantId,
        id: messageId,
        subscriberId,
        receipt,
        from: receiptMovesFrom(receipt),
        entry: { at: iso(now), status: receipt, detail: `${receipt} receipt from ${from}` },
        now,
        followUp,
      });
      if (!result) throw notFound('message', messageId);
      // Settled without going out between the read above and the write: still no revival.
      if (!result.changed && DID_NOT_GO_OUT.has(result.message.status)) throw revivalRefused(result.message);
      if (result.changed) context.metrics.delivery.message(result.message.channel, result.message.status);
      if (result.changed && followUp) signal.notify(followUp.lane);
      if (result.changed) await emitReceipt(context, result.message, now);
      if (result.changed && result.message.channel === 'in_app' && receipt !== 'delivered')
        inboxFeed.publish([
          { type: 'item.updated', tenantId, subscriberId: result.message.subscriberId, itemId: messageId },
        ]);
      return { messageId, status: result.message.status };
    },
  );
}
