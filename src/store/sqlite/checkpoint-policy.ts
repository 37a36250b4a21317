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
}

export const CHECKPOINT_POLICY: CheckpointPolicy = Object.freeze({
  intervalMs: 100,
  restartAtPages: 4096,
  writerBackstopPages: 50_000,
});

/** The figures `PRAGMA wal_checkpoint` answers: pages in the log and pages copied so far. */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

/** Whether the log has grown long enough to be finished under the write lock and restarted. */
export function shouldRestartLog(result: CheckpointResult, policy: CheckpointPolicy): boolean {
  return result.log >= policy.restartAtPages;
}
