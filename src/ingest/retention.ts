import type { Store } from '../store/port.ts';
import type { Logger } from '../telemetry/logger.ts';
import { IDEMPOTENCY_WINDOW_MS } from './service.ts';

const PURGE_EVERY_MS = 60_000;
/**
 * How long inbox changes stay resumable (`Last-Event-ID`): a week, the longest a subscriber token
 * lives. A client away longer reloads its inbox; the items themselves are kept as long as messages.
 */
export const INBOX_CHANGES_KEPT_MS = 7 * 86_400_000;
const PURGE_BATCH = 5_000;
/** Batches per run at most, so one run never holds the store for long; the next run goes on. */
const MAX_BATCHES_PER_RUN = 20;

/**
 * Deletes what has expired, once a minute, in small batches: idempotency keys and stored bulk
 * answers older than the idempotency window (they no longer answer anything, and kept forever
 * they would grow their tables by one row per keyed event or bulk request), and rate-limit
 * counters whose window has ended. Answers how to stop it. Any number of processes may run it at once.
 */
export function startIdempotencyKeyPurge(store: Store, logger: Logger): () => void {
  let running = false;
  const purge = async () => {
    if (running) return;
    running = true;
    try {
      let removed = 0;
      // Event keys, then the stored answers of keyed bulk requests: both live for the same window.
      // Then workflow rate-limit counters whose window has ended: a take starts those from zero anyway.
      for (const purgeOne of [
        () => store.purgeIdempotencyKeys(Date.now() - IDEMPOTENCY_WINDOW_MS, PURGE_BATCH),
        () => store.purgeBulkResponses(Date.now() - IDEMPOTENCY_WINDOW_MS, PURGE_BATCH),
        () => store.purgeRateCounters(Date.now(), PURGE_BATCH),
        // Inbox changes past what a client may resume from, and presence rows no heartbeat kept.
        () => store.purgeInboxChanges(Date.now() - INBOX_CHANGES_KEPT_MS, PURGE_BATCH),
        () => store.purgePresence(Date.now(), PURGE_BATCH),
      ]) {
        for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
          const n = await purgeOne();
          removed += n;
          if (n < PURGE_BATCH) break;
        }
      }
      if (removed > 0)
        logger.info({ removed }, 'purged expired idempotency keys, bulk answers and rate counters');
    } catch (error) {
      logger.warn({ err: error }, 'purging expired keys and counters failed; trying again later');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void purge(), PURGE_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
