import type { Lane } from '../shared/model.ts';

/** Atomics.waitAsync (Node 16+; in TypeScript's lib only from ES2024). */
interface AtomicsWaitAsync {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
    timeoutMs: number,
  ): { async: boolean; value: unknown };
}

/** Where a wake-up came from: this process, or another one (relayed by the store). */
export type SignalOrigin = 'local' | 'remote';
type Listener = (lane: Lane | null, origin: SignalOrigin) => void;

/** Longest an urgent accept holds the bulk lane back (JobSignal.expectUrgent). */
const MAX_EXPECTED_MS = 1_000;
/**
 * Slots of the shared counters: urgent events being accepted, then urgent jobs being run, one
 * slot per thread that runs workers (so a thread that dies can be taken off: its count would
 * otherwise stay up for good).
 */
const ACCEPTING = 0;
const RUNNING_HERE = 1;
/**
 * Not a count: 1 while the SQLite checkpoint thread asks the bulk lane to hold its writes for a
 * moment, so that the write-ahead log can restart without holding anyone's writes (see
 * {@link askBulkWritesToWait}).
 */
const BULK_WRITES_WAIT = 2;

/**
 * In-process wake-up for idle workers: whoever commits new jobs calls `notify`, so a worker
 * starts on them at once instead of waiting for its next poll. Across processes, a store with
 * cross-process wake-ups relays local notifications out and feeds others' in as 'remote' (see
 * relayJobSignal), so a relayed wake-up is never sent back out.
 *
 * It also counts the critical and high events being accepted in this process right now, shared
 * by its threads (`incoming`, see {@link JobSignal.createIncoming}): a worker's bulk lane steps
 * aside while one is on its way, so the accept's commit does not wait behind a bulk page and the
 * worker is free when the wake-up arrives (src/queue/urgent-gate.ts). With the critical and high
 * jobs its workers are running, it also tells the SQLite checkpoint thread when to restart the log
 * (see {@link urgentWorkActive}).
 */
export class JobSignal {
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly incoming: Int32Array = JobSignal.createIncoming(),
    /** Where this thread counts the urgent jobs its workers run ({@link runningSlot}). */
    private readonly running = RUNNING_HERE,
  ) {}

  /** The counters the signals of one process's threads share, with room for `workerThreads`. */
  static createIncoming(workerThreads = 0): Int32Array {
    return new Int32Array(new SharedArrayBuffer((3 + workerThreads) * Int32Array.BYTES_PER_ELEMENT));
  }

  /** The slot where worker thread `index` (from 0) counts its running urgent jobs. */
  static runningSlot(index: number): number {
    return BULK_WRITES_WAIT + 1 + index;
  }

  /** The shared counter, for a worker thread's signal. */
  get incomingCounter(): Int32Array {
    return this.incoming;
  }

  /** Tells listeners that jobs are ready, in `lane` (or in any lane when null). */
  notify(lane: Lane | null = null, origin: SignalOrigin = 'local'): void {
    for (const listener of this.listeners) listener(lane, origin);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Urgent work is being accepted; answers how to say it was (committed and notified, or failed).
   * An accept that hangs (a store connection gone silent) counts as arrived after `maxMs`: the
   * bulk lane must not crawl for as long as it hangs.
   */
  expectUrgent(maxMs = MAX_EXPECTED_MS): () => void {
    Atomics.add(this.incoming, ACCEPTING, 1);
    let done = false;
    const arrived = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      Atomics.sub(this.incoming, ACCEPTING, 1);
    };
    const timer = setTimeout(arrived, maxMs);
    timer.unref();
    return arrived;
  }

  /** Whether urgent work is being accepted in this process now. */
  urgentIncoming(): boolean {
    return Atomics.load(this.incoming, ACCEPTING) > 0;
  }

  /** Whether the bulk lane is asked to hold its writes now ({@link askBulkWritesToWait}). */
  bulkWritesWait(): boolean {
    return Atomics.load(this.incoming, BULK_WRITES_WAIT) !== 0;
  }

  /** Resolves once the bulk lane may write again, or after `ms`. */
  async bulkWritesMayGo(ms: number): Promise<void> {
    const wait = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.incoming, BULK_WRITES_WAIT, 1, ms);
    if (wait.async) await wait.value;
  }

  /** A worker of this process started (`count` > 0) or finished (< 0) critical or high jobs. */
  urgentJobsRunning(count: number): void {
    Atomics.add(this.incoming, this.running, count);
  }
}

/**
 * Whether a process's threads are accepting or running critical or high work now, read from the
 * counters of its JobSignal (`incomingCounter`) on any thread.
 */
export function urgentWorkActive(counters: Int32Array): boolean {
  for (let slot = ACCEPTING; slot < counters.length; slot++)
    if (slot !== BULK_WRITES_WAIT && Atomics.load(counters, slot) > 0) return true;
  return false;
}

/**
 * The SQLite checkpoint thread asks (`wait` true) the bulk lane of every thread to hold its writes
 * at its yield points, or lets it go again. While bulk writers hold, the checkpoint can copy the
 * whole log and the next write restarts it, without the pass under the write lock that stops
 * critical writes too.
 */
export function askBulkWritesToWait(counters: Int32Array, wait: boolean): void {
  Atomics.store(counters, BULK_WRITES_WAIT, wait ? 1 : 0);
  if (!wait) Atomics.notify(counters, BULK_WRITES_WAIT);
}

/** A worker thread is gone: the urgent jobs it counted as running are not running any more. */
export function forgetRunningUrgentJobs(counters: Int32Array, slot: number): void {
  Atomics.store(counters, slot, 0);
}
