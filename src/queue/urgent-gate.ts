/** Longest one wait of the bulk lane for critical and high work lasts. */
export const URGENT_HOLD_MS = 20;
/**
 * How long after it starts a critical or high batch holds the bulk lane back. Its steps (claims,
 * writes, the next job it queues) each need the thread between two awaits; one still in flight
 * after this is waiting on a provider, and holding the bulk lane for it buys nothing.
 */
export const URGENT_FRESH_MS = 25;
/** Longest one wait of the bulk lane for the log's restart (JobSignal.bulkWritesWait) lasts. */
export const LOG_RESTART_HOLD_MS = 50;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Where a worker's bulk lane gives way to its critical and high work (priority isolation: an MFA
 * code never waits behind a newsletter). The bulk lane waits, at its batches' yield points, while
 * urgent events are being accepted, or work that may be urgent was announced and no claim has
 * looked at it since, or while a critical or high batch has just started — each wait at most
 * {@link URGENT_HOLD_MS}, so a steady stream of urgent work slows the bulk lane but never stops it.
 */
export class UrgentGate {
  /** Wake-ups that may have brought urgent work (a critical or high lane, or any lane). */
  private announced = 0;
  /** How many of those a finished claim has looked at. */
  private claimedThrough = 0;
  private freshUntil = 0;
  /** One release for everyone waiting now: resolved, then replaced, when the gate opens. */
  private release: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(
    /** Critical and high jobs the worker is running. */
    private readonly urgentInFlight: () => number,
    /** Whether critical or high events are being accepted in this process now (JobSignal). */
    private readonly urgentIncoming: () => boolean,
    /** The SQLite log's restart, which asks bulk writes to wait (JobSignal.bulkWritesWait). */
    private readonly logRestart: { waiting: () => boolean; over: (ms: number) => Promise<void> },
  ) {}

  /** A wake-up that may bring urgent work: a critical or high job, or one of any lane (a reclaim). */
  announce(): void {
    this.announced++;
  }

  /** A claim starts: answers what it covers, for {@link claimed}. */
  claimStarts(): number {
    return this.announced;
  }

  /**
   * A claim (begun at `covers`) has finished, or the worker cannot claim now (no free slot, the
   * store failing): what was announced before it is no reason to wait any longer.
   */
  claimed(covers: number = this.announced): void {
    this.claimedThrough = Math.max(this.claimedThrough, covers);
    this.settle();
  }

  /** A critical or high batch starts. */
  urgentStarted(): void {
    this.freshUntil = performance.now() + URGENT_FRESH_MS;
  }

  /** Something the gate depends on changed (a batch ended): opens it if nothing holds it. */
  settle(): void {
    if (!this.busy()) this.open();
  }

  /** Lets everyone waiting go (the worker stops, or the gate has nothing to hold for). */
  open(): void {
    const release = this.release;
    this.release = null;
    release?.resolve();
  }

  /** The event loop runs what waits first; then, while the gate holds, waits (bounded). */
  async pass(stopping: () => boolean): Promise<void> {
    await yieldToEventLoop();
    const until = performance.now() + URGENT_HOLD_MS;
    while (this.busy() && !stopping()) {
      const now = performance.now();
      // Held by a young batch only: until it is no longer young.
      const end = this.urgentOnItsWay() ? until : Math.min(until, this.freshUntil);
      if (end <= now) break;
      await this.openedOr(end - now);
    }
    const restartUntil = performance.now() + LOG_RESTART_HOLD_MS;
    while (this.logRestart.waiting() && !stopping()) {
      const left = restartUntil - performance.now();
      if (left <= 0) return;
      await this.logRestart.over(left);
    }
  }

  private busy(): boolean {
    return this.urgentOnItsWay() || (this.urgentInFlight() > 0 && performance.now() < this.freshUntil);
  }

  /** Urgent work is being accepted, or was announced and no claim has looked for it yet. */
  private urgentOnItsWay(): boolean {
    return this.announced > this.claimedThrough || this.urgentIncoming();
  }

  private openedOr(ms: number): Promise<void> {
    if (!this.release) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.release = { promise, resolve };
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((done) => {
      timer = setTimeout(done, ms);
    });
    return Promise.race([timeout, this.release.promise]).finally(() => clearTimeout(timer));
  }
}
