/**
 * When the embedded store's write-ahead log is copied back into the database file.
 *
 * By default SQLite does it inside the commit that grows the log past a size: that writer (an
 * API request waiting for its 202, or a delivery batch) then copies tens of megabytes while every
 * other writer waits. `tidings start` instead runs a checkpoint thread (checkpoint-thread.ts)
 * that copies the log in the background; writers only checkpoint themselves past a much larger
 * backstop, should that thread fall behind or be gone.
 */
export interface CheckpointPolicy {
  /** How often the checkpoint thread copies what the log holds. */
  intervalMs: number;
  /**
   * Log size (pages) past which the checkpoint is repeated under the write lock, so that the log
   * restarts from its beginning (SQLite restarts it only when a write transaction begins with
   * every page copied, which writers that keep appending never let happen).
   */
  restartAtPages: number;
  /** Writers' own automatic checkpoint (pages) while the checkpoint thread runs. */
  writerBackstopPages: number;
  /**
   * Longest the pass under the write lock waits for a moment when no critical or high work is
   * being accepted or run (JobSignal's counters): it holds every writer for 2–20 ms (its fsyncs),
   * which an MFA code should not spend waiting behind. The log is copied meanwhile.
   */
  urgentWaitMs: number;
  /**
   * Longest the checkpoint asks the bulk lane to hold its writes (JobSignal.bulkWritesWait) while
   * it copies the log to its end, so that the next writer restarts it with no pass under the write
   * lock; 0 never asks. Past it, the pass under the write lock finishes the job.
   */
  quietMs: number;
  /**
   * How often the log's new pages are flushed to disk (fdatasync) apart from any checkpoint. An
   * API write (a 202) is fsynced before it returns, which flushes every page written before it
   * too: during a broadcast that was 100 ms of delivery pages (4–12 ms). Flushed this often, it is
   * a few milliseconds' worth. 0 turns it off.
   */
  flushMs: number;
}

export const CHECKPOINT_POLICY: CheckpointPolicy = Object.freeze({
  intervalMs: 100,
  restartAtPages: 4096,
  writerBackstopPages: 50_000,
  urgentWaitMs: 250,
  quietMs: 40,
  // On macOS Node's fdatasync is F_FULLFSYNC, a flush of the drive's own cache: far too dear to
  // run a hundred times a second on a laptop.
  flushMs: process.platform === 'darwin' ? 0 : 10,
});

/** The figures `PRAGMA wal_checkpoint` answers: pages in the log and pages copied so far. */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

/** Whether the log has grown long enough to be finished under the write lock and restarted. */
function shouldRestartLog(result: CheckpointResult, policy: CheckpointPolicy): boolean {
  return result.log >= policy.restartAtPages;
}

/** What {@link copyLog} works with: the checkpoint thread's connection, lock and clock. */
export interface LogCopying {
  /** One checkpoint pass that lets writers go on. */
  copy(): CheckpointResult;
  /** One checkpoint pass under the writers' lock. */
  copyLocked(): void;
  /** Asks the bulk lane to hold its writes (true) or lets it go (false). */
  askBulkToWait(wait: boolean): void;
  /** Whether critical or high work is being accepted or run now. */
  urgentActive(): boolean;
  /** Waits until urgent work rests or until `deadline` (on `now`'s clock). */
  untilUrgentRests(deadline: number): void;
  now(): number;
}

/**
 * One round of the checkpoint thread: copy the log; once it is long, finish copying it so that the
 * next writer restarts it. Writers append while it copies, and a writer restarts the log from its
 * beginning only if its transaction starts when every page has been copied. First it asks the bulk
 * lane to hold its writes meanwhile (copiedToTheEnd), which stops nobody else; failing that, the
 * last pass holds every writer under the write lock for 2–25 ms (its copying and fsyncs), so it
 * waits, copying meanwhile, for a moment when no critical or high work is on its way — at most
 * `urgentWaitMs`. Answers whether it finished a long log.
 */
export function copyLog(log: LogCopying, policy: CheckpointPolicy): boolean {
  if (!shouldRestartLog(log.copy(), policy)) return false;
  if (copiedToTheEnd(log, policy)) return true;
  const deadline = log.now() + policy.urgentWaitMs;
  for (;;) {
    log.untilUrgentRests(Math.min(deadline, log.now() + policy.intervalMs));
    log.copy();
    if (!log.urgentActive() || log.now() >= deadline) break;
  }
  log.copyLocked();
  return true;
}

/**
 * With the bulk lane holding its writes, copies the log until one pass finds nothing appended since
 * the one before began and everything copied: the next write transaction then begins on a log with
 * every page in the database and restarts it. Other writers (an accept, a critical job) go on
 * meanwhile and only cost another pass. Answers whether it got there within `quietMs`.
 */
function copiedToTheEnd(log: LogCopying, policy: CheckpointPolicy): boolean {
  if (policy.quietMs <= 0) return false;
  log.askBulkToWait(true);
  try {
    const deadline = log.now() + policy.quietMs;
    let before = log.copy();
    while (log.now() < deadline) {
      const after = log.copy();
      // Fewer pages than before: a writer has restarted the log already.
      if (after.log < before.log) return true;
      if (after.log === before.log) {
        if (after.checkpointed === after.log) return true;
        // Nothing new, yet not all copied: a reader still needs the log's end. Passes would spin
        // until it is done; the lock's pass (which waits for it) takes over.
        return false;
      }
      before = after;
    }
    return false;
  } finally {
    log.askBulkToWait(false);
  }
}
