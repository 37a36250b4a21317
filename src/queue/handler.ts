import type { Job } from '../store/port.ts';

/**
 * What a handler decided for one job:
 * - done: the worker completes it (with `followUps` queued atomically when given);
 * - acked: the handler already completed it inside its own write transaction;
 * - retry: run again after `delayMs` (or the backoff policy), until attempts run out;
 * - dead: give up now (dead letter).
 */
export type JobResult =
  | { kind: 'done' }
  | { kind: 'acked' }
  | { kind: 'retry'; error: string; delayMs?: number }
  | { kind: 'dead'; error: string };

export interface JobContext {
  /** The lease owner; pass it to store writes that complete jobs. */
  owner: string;
}

/** Runs jobs of one kind. Batches let a handler write many jobs' effects in one transaction. */
export interface JobHandler {
  kind: string;
  /** Most jobs handed to one `run` call. */
  batchSize: number;
  /**
   * Answers one result per job, in the same order. If it throws, the worker runs the jobs again
   * one at a time, so it must not throw while work for the batch is still in flight.
   */
  run(jobs: Job[], context: JobContext): Promise<JobResult[]>;
  /** Called once a job is dead-lettered (retries exhausted or `dead`), e.g. to mark its message. */
  onDead?(job: Job, error: string): Promise<void>;
}

export const DONE: JobResult = Object.freeze({ kind: 'done' });
export const ACKED: JobResult = Object.freeze({ kind: 'acked' });
