import { type BackoffOptions, DEFAULT_BACKOFF, retryDelay } from '../policy/backoff.ts';
import { laneQuotas, type TenantCaps, tenantCaps, workerCaps } from '../policy/lanes.ts';
import { LANES, type Lane } from '../shared/model.ts';
import { isStoreUnavailable } from '../store/errors.ts';
import { storeFailureReason } from '../store/failure-reason.ts';
import type { Job, JobStore } from '../store/port.ts';
import type { Logger } from '../telemetry/logger.ts';
import { type JobContext, type JobHandler, type JobResult, retryAfterError } from './handler.ts';
import { ownerIsDeadLocalProcess, ownerName } from './lease-owner.ts';
import type { JobSignal } from './signal.ts';
import { UrgentGate } from './urgent-gate.ts';

export interface WorkerOptions {
  store: JobStore;
  signal: JobSignal;
  handlers: JobHandler[];
  logger: Logger;
  /** Jobs in flight at once. */
  concurrency?: number;
  leaseMs?: number;
  /** Longest sleep when idle; delayed jobs are picked up at their run_at anyway. */
  pollMs?: number;
  backoff?: BackoffOptions;
  /** Delay before retrying a job that failed because the store was unreachable. */
  storeRetryMs?: number;
  /** Lease owner name; unique per process (`host:pid:random`). */
  owner?: string;
  /** Told when claiming starts or stops failing (see Worker.health), e.g. to pass it to another thread. */
  onHealthChange?: (problem: string | null) => void;
}

/** How often a worker offers the store its housekeeping (see JobStore.maintainJobs). */
const MAINTENANCE_EVERY_MS = 10_000;

/**
 * Longest wait between sweeps for expired leases. At half the lease (15 s by default), a dead
 * worker's jobs ran again up to 1.5 leases after it died (45 s) instead of once its leases ran
 * out; the sweep is one indexed update that finds nothing most of the time.
 */
const SWEEP_EVERY_MAX_MS = 1_000;

/** A job that failed for want of the store runs again this soon (the store is usually back). */
const STORE_RETRY_MS = 1000;

/** The chain of the bulk lane's paced batches (Worker.track). */
const PACED_CHAIN = 'bulk';

/** How long a job of a kind this process has no handler for waits before it is tried again. */
const UNKNOWN_KIND_RETRY_MS = 60_000;

/** Shortest idle sleep after a fruitless claim (see Worker.untilNextRun). */
const IDLE_FLOOR_MS = 50;

/**
 * Whether a claim of `lane` stopped some tenant at its cap (it may have more ready work): its cap
 * in the lane, or its bound across all lanes (`total`, counting every lane's jobs).
 */
function reachedCap(jobs: readonly Job[], lane: Lane, caps: TenantCaps, total: TenantCaps): boolean {
  return (
    stoppedAt(
      jobs.filter((job) => job.lane === lane),
      caps,
    ) || stoppedAt(jobs, total)
  );
}

function stoppedAt(jobs: readonly Job[], caps: TenantCaps): boolean {
  const taken = new Map<string, number>();
  for (const job of jobs) taken.set(job.tenantId, (taken.get(job.tenantId) ?? 0) + 1);
  for (const [tenant, cap] of Object.entries(caps.byTenant)) if ((taken.get(tenant) ?? 0) >= cap) return true;
  for (const [tenant, count] of taken)
    if (caps.byTenant[tenant] === undefined && count >= caps.fresh) return true;
  return false;
}

function sleepUntilWoken(ms: number, wake: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  });
  return Promise.race([timeout, wake]).finally(() => clearTimeout(timer));
}

/**
 * Claims jobs from the store and runs them: weighted fair lanes, leases kept alive by
 * heartbeats, expired leases reclaimed, retries with backoff and full jitter, dead letters.
 */
export class Worker {
  readonly owner: string;
  /** Claim round trips made so far (tests use it to bound how long a job waited). */
  claimCycles = 0;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly backoff: BackoffOptions;
  private readonly storeRetryMs: number;
  private readonly inFlight: Record<Lane, number> = { critical: 0, high: 0, normal: 0, bulk: 0 };
  private readonly heldIds = new Set<number>();
  /** Jobs in flight per lane and tenant: no tenant takes more than its share (tenantCaps). */
  private readonly heldByTenant = new Map<Lane, Map<string, number>>(LANES.map((lane) => [lane, new Map()]));
  /** A claim failed: it may have leased jobs this worker never received (see releaseUnknownClaims). */
  private claimsInDoubt = false;
  /** Why claims fail, since when; null once one succeeds again. */
  private claimFailure: { reason: string; since: number } | null = null;
  private readonly active = new Set<Lane>(LANES);
  /** Where the bulk lane gives way to critical and high work. */
  private readonly gate = new UrgentGate(
    () => this.inFlight.critical + this.inFlight.high,
    () => this.options.signal.urgentIncoming(),
    {
      waiting: () => this.options.signal.bulkWritesWait(),
      over: (ms) => this.options.signal.bulkWritesMayGo(ms),
    },
  );
  /** A bulk batch's yield point (JobContext.yieldToUrgent). */
  private readonly yieldToUrgent = () => this.gate.pass(() => this.stopping);
  /** What every batch's handler is given (bulk batches add yieldToUrgent). */
  private readonly context: JobContext;
  private readonly running = new Set<Promise<void>>();
  private pendingDone: number[] = [];
  /**
   * Batches that run one after another, by chain: the bulk lane's paced batches (JobHandler.
   * bulkBatchSize) share one, a handler's serial lane (JobHandler.serialLanes) has its own. Each
   * entry is the last batch's run; a chain whose last batch is done has none.
   */
  private readonly chains = new Map<string, Promise<void>>();
  private flushScheduled: Promise<void> | null = null;
  private wakeResolve: (() => void) | null = null;
  private wakePromise: Promise<void>;
  private stopping = false;
  /** A stop's grace ran out and the unfinished jobs' leases went back: queued batches must not start. */
  private leasesGivenBack = false;
  private maintaining = false;
  private loopDone: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly options: WorkerOptions) {
    this.owner = options.owner ?? ownerName();
    this.context = { owner: this.owner };
    this.concurrency = options.concurrency ?? 256;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? 1_000;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.storeRetryMs = options.storeRetryMs ?? STORE_RETRY_MS;
    for (const handler of options.handlers) this.handlers.set(handler.kind, handler);
    this.wakePromise = this.newWakePromise();
  }

  async start(): Promise<void> {
    await this.reclaimFromDeadLocalOwners();
    this.unsubscribe = this.options.signal.subscribe((lane) => this.wake(lane));
    this.timers.push(setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(this.leaseMs / 3))));
    this.timers.push(
      setInterval(
        () => void this.sweepExpired(),
        Math.max(100, Math.min(SWEEP_EVERY_MAX_MS, Math.floor(this.leaseMs / 2))),
      ),
    );
    this.timers.push(setInterval(() => void this.maintain(), MAINTENANCE_EVERY_MS));
    for (const timer of this.timers) timer.unref();
    this.loopDone = this.loop();
  }

  /** Stops claiming, lets in-flight jobs finish (up to `graceMs`), then releases any still held. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    // Bulk batches waiting for urgent work go on (and finish within the grace, if they can).
    this.gate.open();
    this.unsubscribe?.();
    this.wake(null);
    await this.loopDone;
    await sleepUntilWoken(
      graceMs,
      Promise.allSettled([...this.running]).then(() => undefined),
    );
    // Past the grace, what is still running or queued is given back below: from now on no queued
    // batch may start (one finishing during the writes below would let the next one in), and the
    // jobs of those that never will are released with the rest.
    const unfinished = this.running.size > 0;
    if (unfinished) this.leasesGivenBack = true;
    await this.flushDone();
    for (const timer of this.timers) clearInterval(timer);
    if (unfinished || this.heldIds.size > 0) {
      this.leasesGivenBack = true;
      // Given back unfinished, not failed: a rolling restart during a backlog must not use up attempts.
      const released = await this.options.store.releaseLeasesOf(this.owner, [], { refundAttempt: true });
      this.options.logger.warn({ released }, 'released unfinished jobs on shutdown');
    }
  }

  /**
   * Why this worker cannot take work now (its claims fail: the store is down or damaged), or null.
   * Readiness (/readyz) reports it: a store that answers a probe may still fail every claim.
   */
  health(): string | null {
    if (this.claimFailure === null) return null;
    const since = new Date(this.claimFailure.since).toISOString();
    return `the workers cannot claim jobs since ${since}: the store fails (${this.claimFailure.reason})`;
  }

  private claimsFailed(error: unknown): void {
    const reason = storeFailureReason(error);
    if (this.claimFailure?.reason === reason) return;
    this.claimFailure = { reason, since: this.claimFailure?.since ?? Date.now() };
    this.options.onHealthChange?.(this.health());
  }

  private claimsSucceeded(): void {
    if (this.claimFailure === null) return;
    this.claimFailure = null;
    this.options.onHealthChange?.(null);
  }

  /** Wakes the claim loop (new jobs in `lane`, or a slot freed when null). */
  wake(lane: Lane | null): void {
    // Any lane (null): leases reclaimed, or wake-ups of other processes lost while reconnecting.
    if (lane !== 'normal' && lane !== 'bulk') this.gate.announce();
    if (lane) this.active.add(lane);
    else for (const l of LANES) this.active.add(l);
    this.wakeResolve?.();
  }

  private newWakePromise(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeResolve = resolve;
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      // Renewed before looking at the load: any wake from here on ends the next idle wait.
      this.wakePromise = this.newWakePromise();
      // Nor does a tenant take the worker's last quarter (an eighth for critical and high work),
      // whatever lanes its work is in.
      const totals = workerCaps(this.concurrency, this.heldByTenantInAll());
      const quotas = laneQuotas({
        concurrency: this.concurrency,
        inFlight: this.inFlight,
        active: this.active,
      }).map((quota) => ({
        ...quota,
        caps: tenantCaps(
          quota.lane,
          this.concurrency,
          this.inFlight[quota.lane],
          this.heldByTenant.get(quota.lane)!,
        ),
        total: totals[quota.lane],
      }));
      if (quotas.length === 0) {
        // No slot for whatever was announced: the bulk lane need not wait for it.
        this.gate.claimed();
        await this.idle(this.pollMs);
        continue;
      }
      if (this.claimsInDoubt && !(await this.releaseUnknownClaims())) {
        this.gate.claimed();
        await this.idle(this.pollMs);
        continue;
      }
      let jobs: Job[];
      const covers = this.gate.claimStarts();
      try {
        jobs = await this.options.store.claimJobs({
          owner: this.owner,
          now: Date.now(),
          leaseMs: this.leaseMs,
          quotas,
        });
        this.claimCycles++;
        this.claimsSucceeded();
      } catch (error) {
        this.options.logger.error({ err: error }, 'claiming jobs failed; retrying');
        this.claimsFailed(error);
        this.claimsInDoubt = true;
        this.gate.claimed(covers);
        await this.idle(this.pollMs);
        continue;
      }
      const claimedPerLane = new Map<Lane, number>();
      for (const job of jobs) claimedPerLane.set(job.lane, (claimedPerLane.get(job.lane) ?? 0) + 1);
      let heldBack = false;
      for (const { lane, limit, caps, total } of quotas) {
        // A lane that could not fill its quota has no more ready work until someone says
        // otherwise, unless a tenant's cap stopped it: that tenant's work waits for its jobs here.
        if ((claimedPerLane.get(lane) ?? 0) >= limit) continue;
        if (reachedCap(jobs, lane, caps, total)) heldBack = true;
        else this.active.delete(lane);
      }
      if (jobs.length > 0) this.dispatch(jobs);
      // What was announced is running now, or another worker took it, or none came.
      this.gate.claimed(covers);
      if (this.active.size === 0) await this.idle(await this.untilNextRun());
      else if (jobs.length === 0 && heldBack) {
        // Only capped work is left: the next job of ours to finish (it wakes this loop) makes
        // room. Meanwhile delayed jobs fall due in the lanes set aside, so all are asked again.
        await this.idle(await this.untilNextRun());
        for (const lane of LANES) this.active.add(lane);
      }
    }
  }

  /** Jobs in flight per tenant, all lanes together. */
  private heldByTenantInAll(): Map<string, number> {
    const all = new Map<string, number>();
    for (const held of this.heldByTenant.values())
      for (const [tenant, count] of held) all.set(tenant, (all.get(tenant) ?? 0) + count);
    return all;
  }

  /**
   * A claim that failed may still have committed (the connection dropped after the COMMIT went
   * out): its jobs would be leased to this worker, which does not know them, until the lease ran
   * out (30 s, then a sweep). Once the store answers again, every lease of this worker but the
   * jobs it is running goes back to ready. Answers whether that happened.
   */
  private async releaseUnknownClaims(): Promise<boolean> {
    try {
      const released = await this.options.store.releaseLeasesOf(this.owner, [...this.heldIds], {
        refundAttempt: true,
      });
      if (released > 0)
        this.options.logger.warn({ released }, 'released jobs claimed while the store was failing');
      this.claimsInDoubt = false;
      return true;
    } catch (error) {
      this.options.logger.error({ err: error }, 'releasing jobs of failed claims failed; retrying');
      this.claimsFailed(error);
      return false;
    }
  }

  private async idle(ms: number): Promise<void> {
    await sleepUntilWoken(ms, this.wakePromise);
    if (!this.stopping && this.active.size === 0) for (const lane of LANES) this.active.add(lane);
  }

  /**
   * How long to sleep after a claim found nothing: until the next delayed job is due, at least
   * IDLE_FLOOR_MS. A job already due that a claim did not return waits behind its partition (or
   * another claimer holds it); retrying at once would spin, and its partition's completion wakes
   * this worker anyway.
   */
  private async untilNextRun(): Promise<number> {
    try {
      const next = await this.options.store.nextRunAt();
      return next === null ? this.pollMs : Math.min(this.pollMs, Math.max(IDLE_FLOOR_MS, next - Date.now()));
    } catch {
      return this.pollMs;
    }
  }

  private dispatch(jobs: Job[]): void {
    const byKind = new Map<string, Job[]>();
    for (const job of jobs) {
      const list = byKind.get(job.kind) ?? [];
      list.push(job);
      byKind.set(job.kind, list);
    }
    for (const [kind, list] of byKind) {
      const handler = this.handlers.get(kind);
      const paced = handler?.bulkBatchSize ? list.filter((job) => job.lane === 'bulk') : [];
      const rest = paced.length > 0 ? list.filter((job) => job.lane !== 'bulk') : list;
      const size = handler?.batchSize ?? 1;
      for (const lane of LANES) {
        const ofLane = rest.filter((job) => job.lane === lane);
        const chain = handler?.serialLanes?.includes(lane) ? `${kind}\u0000${lane}` : null;
        for (let i = 0; i < ofLane.length; i += size) this.track(ofLane.slice(i, i + size), handler, chain);
      }
      const small = handler?.bulkBatchSize ?? 1;
      for (let i = 0; i < paced.length; i += small)
        this.track(paced.slice(i, i + small), handler, PACED_CHAIN);
    }
  }

  /**
   * Runs a batch, at once or after the previous batch of its `chain` (once that one's handler is
   * done, not once its results are written). A chained batch whose turn comes after a stop gave the
   * leases back never starts; a paced one first lets urgent work go (UrgentGate.pass), and after
   * whatever the event loop has waiting (a claim, a critical job's next step).
   */
  private track(jobs: Job[], handler: JobHandler | undefined, chain: string | null): void {
    const lane = jobs[0]?.lane;
    const urgent = lane === 'critical' || lane === 'high';
    if (urgent) {
      this.gate.urgentStarted();
      this.options.signal.urgentJobsRunning(jobs.length);
    }
    for (const job of jobs) {
      this.inFlight[job.lane]++;
      this.heldIds.add(job.id);
      const held = this.heldByTenant.get(job.lane)!;
      held.set(job.tenantId, (held.get(job.tenantId) ?? 0) + 1);
    }
    let run: Promise<void>;
    if (chain) {
      const paced = chain === PACED_CHAIN ? this.yieldToUrgent : undefined;
      const ran = (this.chains.get(chain) ?? Promise.resolve()).then(async () => {
        await paced?.();
        return this.leasesGivenBack ? null : this.execute(jobs, handler, paced);
      });
      // execute settles every job itself; a rejection here must not stop the batches after it.
      const next = ran.then(
        () => undefined,
        () => undefined,
      );
      this.chains.set(chain, next);
      void next.then(() => {
        if (this.chains.get(chain) === next) this.chains.delete(chain);
      });
      run = ran.then((results) => (results ? this.record(jobs, results, handler) : undefined));
    } else {
      run = this.execute(jobs, handler).then((results) => this.record(jobs, results, handler));
    }
    const task = run.finally(() => {
      if (urgent) this.options.signal.urgentJobsRunning(-jobs.length);
      for (const job of jobs) {
        this.inFlight[job.lane]--;
        this.heldIds.delete(job.id);
        const held = this.heldByTenant.get(job.lane)!;
        const left = (held.get(job.tenantId) ?? 1) - 1;
        if (left > 0) held.set(job.tenantId, left);
        else held.delete(job.tenantId);
      }
      this.running.delete(task);
      this.gate.settle();
      this.wakeResolve?.();
    });
    this.running.add(task);
  }

  /** Runs the handler on a batch: one result per job, never a rejection. */
  private async execute(
    jobs: Job[],
    handler: JobHandler | undefined,
    yieldToUrgent?: () => Promise<void>,
  ): Promise<JobResult[]> {
    if (!handler) {
      // Most likely a newer version's job met by a process not yet upgraded (a rolling upgrade):
      // tried again later, so an upgraded worker takes it, and dead-lettered only after its attempts.
      const error = `no handler for job kind "${jobs[0]?.kind}" in this process`;
      return jobs.map(() => ({ kind: 'retry', error, delayMs: UNKNOWN_KIND_RETRY_MS }));
    }
    try {
      return await handler.run(jobs, yieldToUrgent ? { ...this.context, yieldToUrgent } : this.context);
    } catch (error) {
      // Run one by one unless the store is down: then every job would fail the same way.
      const oneByOne = jobs.length > 1 && !isStoreUnavailable(error);
      this.options.logger.error(
        { err: error, kind: handler.kind, jobs: jobs.length },
        oneByOne ? 'job handler failed; running the batch one job at a time' : 'job handler failed',
      );
      return oneByOne ? await this.runOneByOne(jobs, handler) : jobs.map(() => retryAfterError(error));
    }
  }

  /** Writes a batch's results: done jobs completed, retries and dead letters recorded. */
  private async record(jobs: Job[], results: JobResult[], handler: JobHandler | undefined): Promise<void> {
    const settled: Promise<void>[] = [];
    jobs.forEach((job, index) => {
      const result = results[index] ?? { kind: 'retry', error: 'handler returned no result' };
      if (result.kind === 'done') this.pendingDone.push(job.id);
      else if (result.kind === 'retry' || result.kind === 'dead')
        settled.push(this.fail(job, result, handler));
    });
    settled.push(this.scheduleFlush());
    try {
      await Promise.all(settled);
    } catch (error) {
      // The store stayed unreachable for a whole lease (or the write failed otherwise): the jobs
      // stay leased and run again once their lease expires.
      this.options.logger.error({ err: error, jobs: jobs.length }, 'recording job results failed');
    }
  }

  /**
   * Runs a batch that failed as a whole again, job by job, so one job that cannot succeed does
   * not take the rest of its batch into retries and dead letters with it. (Handlers settle or
   * abandon all their work before they throw, so nothing of the failed run is still going.)
   */
  private async runOneByOne(jobs: Job[], handler: JobHandler): Promise<JobResult[]> {
    const results: JobResult[] = [];
    for (const job of jobs) {
      try {
        results.push(
          (await handler.run([job], this.context))[0] ?? retryAfterError('handler returned no result'),
        );
      } catch (error) {
        results.push(retryAfterError(error));
      }
    }
    return results;
  }

  private async fail(
    job: Job,
    result: Extract<JobResult, { kind: 'retry' | 'dead' }>,
    handler: JobHandler | undefined,
  ): Promise<void> {
    const store = this.options.store;
    const refundAttempt = result.kind === 'retry' && result.storeUnavailable === true;
    if (result.kind === 'retry' && (refundAttempt || job.attempts < job.maxAttempts)) {
      const delay = refundAttempt
        ? this.storeRetryMs
        : (result.delayMs ?? retryDelay(job.attempts, this.backoff));
      await this.whileUnavailable(() =>
        store.retryJob(this.owner, job.id, Date.now() + delay, result.error, { refundAttempt }),
      );
      return;
    }
    // The hook first (a send's message recorded `dead`, replayable): a crash between the two
    // leaves the job leased, to run again and find its message settled. The other way round left
    // the job dead and its message `queued` for good, in no list of dead letters.
    try {
      await handler?.onDead?.(job, result.error);
    } catch (error) {
      this.options.logger.error({ err: error, jobId: job.id }, 'dead-letter hook failed');
    }
    await this.whileUnavailable(() => store.deadJob(this.owner, job.id, result.error));
    this.options.logger.warn(
      { jobId: job.id, kind: job.kind, attempts: job.attempts, error: result.error },
      'job dead-lettered',
    );
  }

  /** Completes finished jobs in one write per tick rather than one per job. */
  private scheduleFlush(): Promise<void> {
    if (!this.flushScheduled) {
      this.flushScheduled = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
        this.flushDone(),
      );
    }
    return this.flushScheduled;
  }

  private async flushDone(): Promise<void> {
    this.flushScheduled = null;
    const ids = this.pendingDone;
    if (ids.length === 0) return;
    this.pendingDone = [];
    try {
      await this.whileUnavailable(() => this.options.store.completeJobs(this.owner, ids));
    } catch (error) {
      // The jobs stay leased; they run again after the lease expires (effects are idempotent).
      this.options.logger.error({ err: error, jobs: ids.length }, 'completing jobs failed');
    }
  }

  /**
   * Runs a write of job results, again while the store is unreachable (a database restart, say),
   * for at most one lease time. Without this, a result that could not be written during a
   * restart of a few seconds left its job leased until the lease expired and a sweep released it
   * (30 s + 15 s by default), and then ran it a second time. Its jobs stay held while this
   * waits, so heartbeats renew their leases as soon as the store answers again; the writes only
   * touch jobs this owner still leases, so one that lands late changes nothing.
   */
  private async whileUnavailable(write: () => Promise<void>): Promise<void> {
    const giveUpAt = Date.now() + this.leaseMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        if (this.stopping || !isStoreUnavailable(error) || Date.now() >= giveUpAt) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(this.pollMs, 50 * 2 ** attempt)));
      }
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.heldIds.size === 0) return;
    try {
      await this.options.store.extendLeases(this.owner, [...this.heldIds], Date.now() + this.leaseMs);
    } catch (error) {
      this.options.logger.error({ err: error }, 'lease heartbeat failed');
    }
  }

  private async maintain(): Promise<void> {
    if (!this.options.store.maintainJobs || this.maintaining) return;
    this.maintaining = true;
    try {
      const started = Date.now();
      if (await this.options.store.maintainJobs())
        this.options.logger.info({ ms: Date.now() - started }, 'vacuumed the job queue');
    } catch (error) {
      this.options.logger.warn({ err: error }, 'queue maintenance failed');
    } finally {
      this.maintaining = false;
    }
  }

  private async sweepExpired(): Promise<void> {
    try {
      const released = await this.options.store.releaseExpiredLeases(Date.now());
      if (released > 0) {
        this.options.logger.warn({ released }, 'reclaimed jobs whose lease expired');
        this.wake(null);
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'lease sweep failed');
    }
  }

  /** A process killed mid-job here (this host, this container) left leases behind; take them back at once. */
  private async reclaimFromDeadLocalOwners(): Promise<void> {
    for (const owner of await this.options.store.leaseOwners()) {
      if (!ownerIsDeadLocalProcess(owner)) continue;
      const released = await this.options.store.releaseLeasesOf(owner);
      this.options.logger.warn({ owner, released }, 'reclaimed jobs from a process that died');
    }
  }
}
