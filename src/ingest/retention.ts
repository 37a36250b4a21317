import type { ExpiringTable, Store } from '../store/port.ts';
import type { Logger } from '../telemetry/logger.ts';
import { IDEMPOTENCY_WINDOW_MS } from './service.ts';

/** The sweep runs every min(retention, this). */
const SWEEP_EVERY_MS = 60_000;
/**
 * How long inbox changes stay resumable (`Last-Event-ID`): a week, the longest a subscriber token
 * lives (or the retention, when shorter). A client away longer reloads its inbox; the items
 * themselves are kept as long as messages.
 */
export const INBOX_CHANGES_KEPT_MS = 7 * 86_400_000;
const PURGE_BATCH = 5_000;
/**
 * Rows of the big tables (messages, events…) per delete: each batch is its own short transaction,
 * so deliveries wait a few milliseconds at most for the SQLite writer.
 */
const RETENTION_BATCH = 250;
/** Batches per table per run at most, so one run never holds the store for long; the next run goes on. */
const MAX_BATCHES_PER_RUN = 20;
/** The big tables get more batches per run (smaller ones): up to 50,000 rows per table and tenant. */
const MAX_RETENTION_BATCHES_PER_RUN = 200;
/** Tenants listed per read. */
const TENANT_PAGE = 100;
/** Messages and captures before the events they came from; skipped steps are keyed by event. */
const EXPIRING_TABLES: readonly ExpiringTable[] = ['messages', 'sandbox_captures', 'skipped_steps', 'events'];

const breathe = () => new Promise((resolve) => setImmediate(resolve));

/** Runs `purge` in batches until one comes back short (or the run's share is spent); answers the rows removed. */
async function drain(
  purge: () => Promise<number>,
  batch: number,
  maxBatches = MAX_BATCHES_PER_RUN,
): Promise<number> {
  let removed = 0;
  for (let round = 0; round < maxBatches; round++) {
    const n = await purge();
    removed += n;
    if (n < batch) break;
    await breathe();
  }
  return removed;
}

/**
 * Deletes what has expired, every min(`retentionMs`, 60 s), in small batches, each its own short
 * transaction with the event loop free in between (so delivery never waits behind a sweep):
 * - past TIDINGS_RETENTION: events (not those scheduled for later), messages, sandbox captures,
 *   skipped steps and dead letters;
 * - idempotency keys and stored bulk answers older than the idempotency window (they no longer
 *   answer anything, and kept forever they would grow their tables by one row per keyed request),
 *   rate-limit counters whose window has ended, the inbox change log past what a client may resume
 *   from (or the retention), and presence rows no heartbeat kept.
 * Answers how to stop it. Any number of processes may run it at once.
 */
export function startRetentionSweep(store: Store, logger: Logger, retentionMs: number): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      const now = Date.now();
      const expired = now - retentionMs;
      let removed = 0;
      for (const purgeOne of [
        () => store.purgeIdempotencyKeys(now - IDEMPOTENCY_WINDOW_MS, PURGE_BATCH),
        () => store.purgeBulkResponses(now - IDEMPOTENCY_WINDOW_MS, PURGE_BATCH),
        () => store.purgeRateCounters(now, PURGE_BATCH),
        () => store.purgeInboxChanges(now - Math.min(INBOX_CHANGES_KEPT_MS, retentionMs), PURGE_BATCH),
        () => store.purgePresence(now, PURGE_BATCH),
        () => store.purgeDeadJobs(expired, PURGE_BATCH),
      ]) {
        removed += await drain(purgeOne, PURGE_BATCH);
      }
      for (let after: string | null = null; ; ) {
        const tenants = await store.listTenants(after, TENANT_PAGE);
        for (const tenant of tenants) {
          for (const table of EXPIRING_TABLES) {
            removed += await drain(
              () => store.purgeExpired(table, tenant.id, expired, RETENTION_BATCH),
              RETENTION_BATCH,
              MAX_RETENTION_BATCHES_PER_RUN,
            );
          }
        }
        if (tenants.length < TENANT_PAGE) break;
        after = tenants.at(-1)!.id;
      }
      if (removed > 0) logger.info({ removed }, 'retention sweep deleted expired rows');
    } catch (error) {
      logger.warn({ err: error }, 'the retention sweep failed; trying again on the next run');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), Math.min(retentionMs, SWEEP_EVERY_MS));
  timer.unref();
  return () => clearInterval(timer);
}
