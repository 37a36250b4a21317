import { DONE, type JobHandler, retryAfterError } from '../queue/handler.ts';
import type { JobSpec } from '../store/port.ts';
import type { PipelineDeps } from './deps.ts';

/** The job kind that ends an inbox item's snooze. */
export const INBOX_WAKE = 'inbox-wake';

interface WakePayload {
  itemId: string;
  subscriberId: string;
  /**
   * The snooze this job ends. Snoozing the item again moves a waiting job to the new snooze (time
   * and `until`); one that was running by then, or one the item's snooze no longer matches, does nothing.
   */
  until: number;
}

/** The job, due at `until`, that brings a snoozed item back (queued, or moved to, with the snooze itself). */
export function inboxWakeJob(wake: { tenantId: string } & WakePayload): JobSpec {
  return {
    tenantId: wake.tenantId,
    kind: INBOX_WAKE,
    lane: 'high',
    partitionKey: `${wake.subscriberId}:inbox`,
    payload: {
      itemId: wake.itemId,
      subscriberId: wake.subscriberId,
      until: wake.until,
    } satisfies WakePayload,
    runAt: wake.until,
  };
}

/**
 * `inbox-wake` jobs: a snoozed item returns as new (unread, unseen) when its snooze ends, and open
 * streams get it as `item.created` (API.md "Inbox": snooze). The store logs the change with the
 * wake; the feed only rings the subscriber's streams.
 */
export function inboxWakeHandler(deps: PipelineDeps): JobHandler {
  return {
    kind: INBOX_WAKE,
    batchSize: 32,
    async run(jobs) {
      return Promise.all(
        jobs.map(async (job) => {
          const { itemId, until } = job.payload as WakePayload;
          try {
            const item = await deps.store.wakeSnoozed(job.tenantId, itemId, until, Date.now());
            if (item)
              deps.inboxFeed.publish([
                { type: 'item.created', tenantId: job.tenantId, subscriberId: item.subscriberId, itemId },
              ]);
            return DONE;
          } catch (error) {
            return retryAfterError(error);
          }
        }),
      );
    },
  };
}
