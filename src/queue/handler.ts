import type { Lane } from '../shared/model.ts';
import { isStoreUnavailable } from '../store/errors.ts';
import type { Job } from '../store/port.ts';

/**
 * What a handler decided for one job:
 * - done: the worker completes it (with `followUps` queued atomically when given);
 * - acked: the handler already completed it inside its own write transaction;
 * - retry: run again after `delayMs` (or the backoff policy), until attempts run out; with
 *   `storeUnavailable`, shortly and without counting the attempt (see retryAfterError);
 * - dead: give up now (dead letter).
 */
export type JobResult =
  | { kind: 'done' }
  | { kind: 'acked' }
  | { kind: 'retry'; error: string; delayMs?: number; storeUnavailable?: boolean }
  | { kind: 'dead'; error: string };

/**
 * What to do with a job whose run threw `error`: retry it. If the store could not be reached (a
 * database restart), the job itself is not at fault: the worker retries it soon, without
 * counting the attempt, so an outage neither stretches its backoff nor dead-letters it.
 */
export function retryAfterError(error: unknown): JobResult {
  const message = error instanceof Error ? error.message : String(error);
  return isStoreUnavailable(error)
    ? { kind: 'retry', error: message, storeUnavailable: true }
    : { kind: 'retry', error: message };
}

export interface JobContext {
  /** The lease owner; pass it to store writes that complete jobs. */
  owner: string;
  /**
   * Bulk-lane batches only: lets the worker's critical and high work run first (see
   * UrgentGate.pass). A handler with long stretches of work calls it between them.
   */
  yieldToUrgent?: () => Promise<void>;
}

/** Runs jobs of one kind. Batches let a handler write many jobs' effects in one transaction. */
export interface JobHandler {
  kind: string;
  /** Most jobs handed to one `run` call; a claim's jobs are batched per lane. */
  batchSize: number;
  /**
   * For handlers whose batches are long stretches of synchronous work (rendering, building rows):
   * in the bulk lane, batches of at most this many jobs, run one after another with the event loop
   * free in between, so a critical job never waits behind more than one such batch. (Run at once
   * and in full, a claim's worth of bulk deliveries held a critical message for 250 ms.)
   */
  bulkBatchSize?: number;
  /**
   * Lanes in which the worker runs this handler's batches one after another rather than together
   * (besides the bulk lane's paced batches). With one writer (SQLite), deliver batches run together
   * interleave their builds and all commit at the end of the claim, so a broadcast's first inbox
   * rows wait for its last; one after another, each commits after its own build, for the same CPU.
   */
  serialLanes?: readonly Lane[];
  /**
   * Answers one result per job, in the same order. If it throws, the worker runs the jobs again
   * one at a time, so it must not throw while work for the batch is still in flight.
   */
  run(jobs: Job[], context: JobContext): Promise<JobResult[]>;
  /**
   * Called as a job is dead-lettered (retries exhausted or `dead`), just before it is marked dead,
   * e.g. to mark its message. A crash in between runs the job once more: its run must then find
   * what this settled and do nothing.
   */
  onDead?(job: Job, error: string): Promise<void>;
}

export const DONE: JobResult = Object.freeze({ kind: 'done' });
export const ACKED: JobResult = Object.freeze({ kind: 'acked' });
