import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { DONE, type JobHandler, type JobResult } from '../../../src/queue/handler.ts';
import { ownerName } from '../../../src/queue/lease-owner.ts';
import { JobSignal, urgentWorkActive } from '../../../src/queue/signal.ts';
import { Worker } from '../../../src/queue/worker.ts';
import { LANES } from '../../../src/shared/model.ts';
import type { Job, JobSpec, Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

const logger = silentLogger();
let store: Store;
let workers: Worker[] = [];

function setup(): { store: Store; signal: JobSignal } {
  store = openSqliteStore({ file: ':memory:' });
  return { store, signal: new JobSignal() };
}

async function startWorker(
  options: Omit<ConstructorParameters<typeof Worker>[0], 'logger'>,
): Promise<Worker> {
  const worker = new Worker({ logger, ...options });
  workers.push(worker);
  await worker.start();
  return worker;
}

function spec(over: Partial<JobSpec> = {}): JobSpec {
  return { tenantId: 't', kind: 'work', lane: 'normal', payload: null, ...over };
}

function handler(
  kind: string,
  run: (job: Job) => Promise<JobResult> | JobResult,
  extra: Partial<JobHandler> = {},
): JobHandler {
  return { kind, batchSize: 1, run: async (jobs) => Promise.all(jobs.map(run)), ...extra };
}

/** Records `value` and finishes the job. */
function collect<T>(list: T[], value: T): JobResult {
  list.push(value);
  return DONE;
}

afterEach(async () => {
  for (const worker of workers) await worker.stop(100);
  workers = [];
  await store?.close();
});

describe('Worker', () => {
  it('runs a job as soon as it is signalled, without waiting for a poll', async () => {
    const { store, signal } = setup();
    const ran: unknown[] = [];
    await startWorker({
      store,
      signal,
      pollMs: 60_000,
      handlers: [handler('work', (job) => collect(ran, job.payload))],
    });
    await sleep(20);
    await store.enqueueJobs([spec({ payload: 'hello' })]);
    signal.notify('normal');
    await waitFor(() => ran.length === 1, 'the job to run', 1000);
    await waitFor(
      async () => (await store.countJobs()).ready + (await store.countJobs()).leased === 0,
      'completion',
    );
  });

  it('does not delay a critical job behind a bulk backlog by more than one claim cycle', async () => {
    const { store, signal } = setup();
    let bulkDone = 0;
    let criticalAtCycle = -1;
    let worker: Worker | undefined;
    const slow = handler('work', async (job) => {
      if (job.lane === 'critical') {
        criticalAtCycle = worker!.claimCycles;
        return DONE;
      }
      await sleep(30);
      bulkDone++;
      return DONE;
    });
    await store.enqueueJobs(Array.from({ length: 500 }, () => spec({ lane: 'bulk' })));
    worker = await startWorker({ store, signal, concurrency: 8, handlers: [slow] });
    await waitFor(() => bulkDone >= 8, 'bulk traffic to flow');
    await store.enqueueJobs([spec({ lane: 'critical' })]);
    const cyclesAtEnqueue = worker.claimCycles;
    signal.notify('critical');
    await waitFor(() => criticalAtCycle >= 0, 'the critical job', 2000);
    expect(criticalAtCycle - cyclesAtEnqueue).toBeLessThanOrEqual(1);
    expect(bulkDone).toBeLessThan(500);
  });

  it('reclaims a job whose lease expired (its worker crashed) and runs it again', async () => {
    const { store, signal } = setup();
    await store.enqueueJobs([spec({ payload: 'orphan' })]);
    const [orphan] = await store.claimJobs({
      owner: 'elsewhere:1:gone',
      now: Date.now(),
      leaseMs: 150,
      quotas: [{ lane: 'normal', limit: 1 }],
    });
    const ran: Job[] = [];
    await startWorker({
      store,
      signal,
      leaseMs: 300,
      handlers: [handler('work', (job) => collect(ran, job))],
    });
    await waitFor(() => ran.length === 1, 'the orphan to be reclaimed', 3000);
    expect(ran[0]).toMatchObject({ id: orphan!.id, attempts: 2 });
  });

  it("runs a dead worker's job within a second of its lease's end, whatever the lease length", async () => {
    // The dead worker was elsewhere (no pid to check): only the lease's end frees its job. Swept
    // every half lease (15 s of the default 30 s), it waited up to 1.5 leases.
    const { store, signal } = setup();
    await store.enqueueJobs([spec({ payload: 'orphan' })]);
    const leaseEnds = Date.now() + 200;
    await store.claimJobs({
      owner: 'elsewhere:1:gone',
      now: leaseEnds - 200,
      leaseMs: 200,
      quotas: [{ lane: 'normal', limit: 1 }],
    });
    const ran: number[] = [];
    await startWorker({ store, signal, handlers: [handler('work', () => collect(ran, Date.now()))] });
    await waitFor(() => ran.length === 1, 'the orphan to be reclaimed', 5000);
    expect(ran[0]! - leaseEnds).toBeLessThan(1_500);
  });

  it('does not spin while the only due job waits behind its partition held elsewhere', async () => {
    const { store, signal } = setup();
    await store.enqueueJobs([spec({ partitionKey: 'p', payload: 'held' }), spec({ partitionKey: 'p' })]);
    await store.claimJobs({
      owner: 'elsewhere:1:busy',
      now: Date.now(),
      leaseMs: 60_000,
      quotas: [{ lane: 'normal', limit: 1 }],
    });
    const worker = await startWorker({ store, signal, handlers: [handler('work', () => DONE)] });
    await sleep(500);
    // An idle wait of at least 50 ms allows about 10 claims in 500 ms; retrying at once made hundreds.
    expect(worker.claimCycles).toBeLessThan(25);
  });

  it('takes back at once the leases of a dead process on this host', async () => {
    const { store, signal } = setup();
    const exited = spawnSync(process.execPath, ['-e', 'process.pid']).pid;
    await store.enqueueJobs([spec()]);
    await store.claimJobs({
      owner: ownerName(exited),
      now: Date.now(),
      leaseMs: 3_600_000,
      quotas: [{ lane: 'normal', limit: 1 }],
    });
    const ran: Job[] = [];
    await startWorker({ store, signal, handlers: [handler('work', (job) => collect(ran, job))] });
    await waitFor(() => ran.length === 1, 'the job of the dead process', 2000);
  });

  it('leaves the leases of another PID namespace with this host name to their expiry', async () => {
    // Containers sharing the host's name (Docker --network host, Kubernetes hostNetwork) number
    // their processes apart: a pid that is not running here may be a live worker there. Owner
    // names without this process's namespace are such names (and those of older versions).
    const { store, signal } = setup();
    const exited = spawnSync(process.execPath, ['-e', 'process.pid']).pid;
    await store.enqueueJobs([spec()]);
    await store.claimJobs({
      owner: `${hostname()}:${exited}:abcd`,
      now: Date.now(),
      leaseMs: 3_600_000,
      quotas: [{ lane: 'normal', limit: 1 }],
    });
    const ran: Job[] = [];
    // start() takes back the leases of dead local processes before it returns.
    await startWorker({ store, signal, handlers: [handler('work', (job) => collect(ran, job))] });
    expect(await store.countJobs()).toEqual({ ready: 0, leased: 1, dead: 0 });
    expect(ran).toEqual([]);
  });

  it('keeps a long job leased with heartbeats so nobody else takes it', async () => {
    const { store, signal } = setup();
    await store.enqueueJobs([spec()]);
    let runs = 0;
    await startWorker({
      store,
      signal,
      leaseMs: 150,
      handlers: [
        handler('work', async () => {
          runs++;
          await sleep(600);
          return DONE;
        }),
      ],
    });
    await waitFor(() => runs === 1, 'the job to start');
    await sleep(300);
    expect(await store.releaseExpiredLeases(Date.now())).toBe(0);
    await waitFor(async () => (await store.countJobs()).leased === 0, 'the job to finish', 2000);
    expect(runs).toBe(1);
  });

  it('retries with backoff, then dead-letters after max attempts and calls onDead once', async () => {
    const { store, signal } = setup();
    const attempts: number[] = [];
    const dead: string[] = [];
    const deadJobsMeanwhile: number[] = [];
    await store.enqueueJobs([spec({ maxAttempts: 3 })]);
    await startWorker({
      store,
      signal,
      backoff: { baseMs: 20, capMs: 40 },
      handlers: [
        handler(
          'work',
          (job) => {
            attempts.push(job.attempts);
            return { kind: 'retry', error: `boom ${job.attempts}` };
          },
          {
            onDead: async (_job, error) => {
              // Before the job is dead: a crash here leaves it leased, to run again (and find
              // its work settled), never dead beside work the hook did not settle.
              deadJobsMeanwhile.push((await store.countJobs()).dead);
              dead.push(error);
            },
          },
        ),
      ],
    });
    await waitFor(() => dead.length === 1, 'dead-lettering', 3000);
    expect(attempts).toEqual([1, 2, 3]);
    expect(dead).toEqual(['boom 3']);
    expect(deadJobsMeanwhile).toEqual([0]);
    expect(await store.countJobs()).toEqual({ ready: 0, leased: 0, dead: 1 });
    expect((await store.listDeadJobs(5))[0]?.lastError).toBe('boom 3');
  });

  it('retries a batch whose handler throws, and dead-letters jobs of unknown kinds', async () => {
    const { store, signal } = setup();
    let calls = 0;
    await store.enqueueJobs([
      spec({ kind: 'flaky', maxAttempts: 5 }),
      spec({ kind: 'mystery', maxAttempts: 1 }),
      spec({ kind: 'newer', maxAttempts: 5 }),
    ]);
    await startWorker({
      store,
      signal,
      backoff: { baseMs: 1, capMs: 1 },
      handlers: [
        handler('flaky', () => {
          calls++;
          if (calls < 3) throw new Error('transient');
          return DONE;
        }),
      ],
    });
    await waitFor(() => calls === 3, 'the flaky job to succeed', 3000);
    // An unknown kind with attempts left (a newer version's job, in a rolling upgrade) waits a
    // minute for a worker that knows it, instead of being dead-lettered at once; without, it dies.
    await waitFor(async () => {
      const jobs = await store.countJobs();
      return jobs.dead === 1 && jobs.ready === 1 && jobs.leased === 0;
    }, 'the unknown kinds to be dead-lettered (no attempts left) and put off (attempts left)');
    expect((await store.listDeadJobs(5))[0]?.lastError).toMatch(/no handler for job kind "mystery"/);
    // Put off a minute, not retried at once: not due in 50 s, due in 70 s, after one attempt.
    const probe = (inMs: number) =>
      store.claimJobs({
        owner: 'probe',
        now: Date.now() + inMs,
        leaseMs: 1000,
        quotas: LANES.map((lane) => ({ lane, limit: 10 })),
      });
    expect(await probe(50_000)).toEqual([]);
    expect((await probe(70_000)).map((job) => [job.kind, job.attempts])).toEqual([['newer', 2]]);
  });

  it('runs a batch that throws again one job at a time, so only the job that cannot succeed retries', async () => {
    const { store, signal } = setup();
    const runs: string[][] = [];
    const dead: unknown[] = [];
    await store.enqueueJobs(['a', 'b', 'poison', 'c'].map((payload) => spec({ payload, maxAttempts: 2 })));
    await startWorker({
      store,
      signal,
      backoff: { baseMs: 1, capMs: 1 },
      handlers: [
        {
          kind: 'work',
          batchSize: 4,
          async run(jobs) {
            runs.push(jobs.map((job) => job.payload as string));
            if (jobs.some((job) => job.payload === 'poison')) throw new Error('cannot handle poison');
            return jobs.map(() => DONE);
          },
          onDead: async (job) => void dead.push(job.payload),
        },
      ],
    });
    await waitFor(() => dead.length === 1, 'the poison job to be dead-lettered', 3000);
    // The whole batch once, then each job alone; after that only the poison job runs again.
    expect(runs.slice(0, 5)).toEqual([['a', 'b', 'poison', 'c'], ['a'], ['b'], ['poison'], ['c']]);
    expect(runs.slice(5)).toEqual([['poison']]);
    expect(dead).toEqual(['poison']);
    expect(await store.countJobs()).toEqual({ ready: 0, leased: 0, dead: 1 });
  });

  it('serialises one partition: one job at a time, in order, while other partitions run in parallel', async () => {
    const { store, signal } = setup();
    const order: number[] = [];
    const running = new Map<string, number>();
    let maxSamePartition = 0;
    let maxOverall = 0;
    const work = handler('work', async (job) => {
      const key = job.partitionKey!;
      running.set(key, (running.get(key) ?? 0) + 1);
      maxSamePartition = Math.max(maxSamePartition, running.get(key)!);
      maxOverall = Math.max(
        maxOverall,
        [...running.values()].reduce((a, b) => a + b, 0),
      );
      await sleep(5);
      if (key === 'p') order.push(job.payload as number);
      running.set(key, running.get(key)! - 1);
      return DONE;
    });
    await store.enqueueJobs([
      ...Array.from({ length: 20 }, (_, i) => spec({ partitionKey: 'p', payload: i })),
      ...Array.from({ length: 20 }, (_, i) => spec({ partitionKey: `q${i}`, payload: i })),
    ]);
    await startWorker({ store, signal, concurrency: 16, handlers: [work] });
    await waitFor(() => order.length === 20, 'partition p to drain', 5000);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(maxSamePartition).toBe(1);
    expect(maxOverall).toBeGreaterThan(1);
  });

  it('runs the bulk batches of a paced handler small and one at a time, so a critical job runs between them', async () => {
    const { store, signal } = setup();
    const order: string[] = [];
    let running = 0;
    let mostAtOnce = 0;
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        // Synchronous work, as rendering and building rows are.
      }
    };
    const heavy: JobHandler = {
      kind: 'heavy',
      batchSize: 12,
      bulkBatchSize: 2,
      run: async (jobs) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        order.push(`bulk×${jobs.length}`);
        if (order.length === 1) {
          // A critical job arrives while the broadcast is being delivered.
          await store.enqueueJobs([spec({ kind: 'fast', lane: 'critical' })]);
          signal.notify('critical');
        }
        busy(10);
        await Promise.resolve();
        running--;
        return jobs.map(() => DONE);
      },
    };
    await store.enqueueJobs(Array.from({ length: 12 }, () => spec({ kind: 'heavy', lane: 'bulk' })));
    await startWorker({
      store,
      signal,
      handlers: [heavy, handler('fast', () => collect(order, 'critical'))],
    });
    await waitFor(
      () => order.filter((o) => o.startsWith('bulk')).length === 6 && order.includes('critical'),
      'all jobs',
    );
    expect(order.filter((o) => o.startsWith('bulk'))).toEqual(Array(6).fill('bulk×2'));
    expect(mostAtOnce).toBe(1);
    // The critical job did not wait for the whole broadcast.
    expect(order.indexOf('critical')).toBeLessThan(order.length - 1);
  });

  it('starts no bulk batch while a critical job runs, and holds the bulk lane back only while that job is young', async () => {
    const { store, signal } = setup();
    const events: { what: string; at: number }[] = [];
    const mark = (what: string) => events.push({ what, at: performance.now() });
    let criticalMs = 10;
    const heavy: JobHandler = {
      kind: 'heavy',
      batchSize: 50,
      bulkBatchSize: 1,
      run: async (jobs, context) => {
        mark('bulk-start');
        // A handler's own yield point between two stretches of work.
        await context.yieldToUrgent?.();
        mark('bulk-end');
        return jobs.map(() => DONE);
      },
    };
    const fast = handler('fast', async () => {
      mark('critical-start');
      await sleep(criticalMs);
      mark('critical-end');
      return DONE;
    });
    await store.enqueueJobs(Array.from({ length: 400 }, () => spec({ kind: 'heavy', lane: 'bulk' })));
    await startWorker({ store, signal, handlers: [heavy, fast] });
    await waitFor(() => events.length > 10, 'bulk traffic to flow');
    await store.enqueueJobs([spec({ kind: 'fast', lane: 'critical' })]);
    signal.notify('critical');
    await waitFor(() => events.some((e) => e.what === 'critical-end'), 'the critical job');
    const start = events.findIndex((e) => e.what === 'critical-start');
    const end = events.findIndex((e) => e.what === 'critical-end');
    // Bulk batches (and a batch's second half) wait while the critical job runs.
    expect(events.slice(start, end).filter((e) => e.what.startsWith('bulk'))).toEqual([]);

    // A critical job that waits long (on a provider, say) holds the bulk lane back only as it starts.
    criticalMs = 300;
    const before = events.length;
    await store.enqueueJobs([spec({ kind: 'fast', lane: 'critical' })]);
    const notifiedAt = performance.now();
    signal.notify('critical');
    await waitFor(() => events.slice(before).some((e) => e.what === 'critical-end'), 'the long critical job');
    const longStart = events.findIndex((e, i) => i >= before && e.what === 'critical-start');
    const longEnd = events.findIndex((e, i) => i >= before && e.what === 'critical-end');
    const during = events.slice(longStart, longEnd).filter((e) => e.what === 'bulk-start');
    // Held for the whole job (20 ms at each of a batch's two waits) it would be a handful.
    expect(during.length).toBeGreaterThan(20);
    // Not at once: every wait that began after the notice lasts its bound (20 ms) or the job's
    // youth (25 ms); a busy machine only makes the gap longer.
    const firstAfter = events.find((e, i) => i >= before && e.what === 'bulk-start' && e.at > notifiedAt);
    expect(firstAfter!.at - notifiedAt).toBeGreaterThanOrEqual(15);
  });

  it('holds the bulk lane while urgent events are being accepted, each wait bounded, and lets it go once they are', async () => {
    const { store, signal } = setup();
    const starts: number[] = [];
    const heavy: JobHandler = {
      kind: 'heavy',
      batchSize: 50,
      bulkBatchSize: 1,
      run: async (jobs, context) => {
        starts.push(performance.now());
        await context.yieldToUrgent?.();
        return jobs.map(() => DONE);
      },
    };
    await store.enqueueJobs(Array.from({ length: 2_000 }, () => spec({ kind: 'heavy', lane: 'bulk' })));
    await startWorker({ store, signal, handlers: [heavy] });
    await waitFor(() => starts.length > 5, 'bulk traffic to flow');
    // An accept that never comes to an end (it failed without a word, say) holds each wait 20 ms.
    const arrived = signal.expectUrgent();
    const heldFrom = starts.length;
    await sleep(200);
    const held = starts.length - heldFrom;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(200 / 20 + 2);
    arrived();
    expect(signal.urgentIncoming()).toBe(false);
    const freeFrom = starts.length;
    await waitFor(() => starts.length - freeFrom > 50, 'the bulk lane to go on at full pace');
  });

  it('counts its critical and high jobs as urgent work while they run, for the other threads', async () => {
    const { store, signal } = setup();
    const release: Record<string, () => void> = {};
    const running: string[] = [];
    const hold = handler('hold', (job) => {
      running.push(job.lane);
      return new Promise<JobResult>((resolve) => {
        release[job.lane] = () => resolve(DONE);
      });
    });
    await startWorker({ store, signal, handlers: [hold] });
    await store.enqueueJobs([spec({ kind: 'hold', lane: 'bulk' })]);
    signal.notify('bulk');
    await waitFor(() => running.includes('bulk'), 'the bulk job to run');
    expect(urgentWorkActive(signal.incomingCounter)).toBe(false);

    await store.enqueueJobs([spec({ kind: 'hold', lane: 'critical' })]);
    signal.notify('critical');
    await waitFor(() => running.includes('critical'), 'the critical job to run');
    expect(urgentWorkActive(signal.incomingCounter)).toBe(true);
    release.critical!();
    await waitFor(() => !urgentWorkActive(signal.incomingCounter), 'the count to drop once it is done');
    release.bulk!();
  });

  it('lets the bulk lane go on under a steady stream of wake-ups that bring no urgent work', async () => {
    const { store, signal } = setup();
    let started = 0;
    const heavy: JobHandler = {
      kind: 'heavy',
      batchSize: 50,
      bulkBatchSize: 1,
      run: async (jobs, context) => {
        started++;
        await context.yieldToUrgent?.();
        return jobs.map(() => DONE);
      },
    };
    await store.enqueueJobs(Array.from({ length: 2_000 }, () => spec({ kind: 'heavy', lane: 'bulk' })));
    await startWorker({ store, signal, handlers: [heavy] });
    await waitFor(() => started > 5, 'bulk traffic to flow');
    // Wake-ups for any lane (reclaimed leases, a relay that reconnected), many of them.
    const ingest = setInterval(() => signal.notify(null), 2);
    try {
      const before = started;
      await sleep(300);
      // Each wait lasts until the next claim has looked, not its full 20 ms: far more than 300 / 40.
      expect(started - before).toBeGreaterThan(30);
    } finally {
      clearInterval(ingest);
    }
  });

  it("runs a handler's batches in its serial lanes one after another, and those of other lanes together", async () => {
    const { store, signal } = setup();
    let running = 0;
    const overlap = { normal: 0, high: 0 };
    const slow: JobHandler = {
      kind: 'slow',
      batchSize: 2,
      serialLanes: ['normal'],
      run: async (jobs) => {
        const lane = jobs[0]!.lane as 'normal' | 'high';
        running++;
        overlap[lane] = Math.max(overlap[lane], running);
        await sleep(20);
        running--;
        return jobs.map(() => DONE);
      },
    };
    await store.enqueueJobs(Array.from({ length: 8 }, () => spec({ kind: 'slow', lane: 'normal' })));
    await startWorker({ store, signal, handlers: [slow] });
    await waitFor(
      async () => (await store.countJobs()).ready + (await store.countJobs()).leased === 0,
      'the normal jobs',
    );
    expect(overlap.normal).toBe(1);
    await store.enqueueJobs(Array.from({ length: 8 }, () => spec({ kind: 'slow', lane: 'high' })));
    signal.notify('high');
    await waitFor(
      async () => (await store.countJobs()).ready + (await store.countJobs()).leased === 0,
      'the high jobs',
    );
    expect(overlap.high).toBeGreaterThan(1);
  });

  it("starts none of its queued serial batches once a stop's grace ran out and their leases went back", async () => {
    const { store, signal } = setup();
    let started = 0;
    const slow: JobHandler = {
      kind: 'slow',
      batchSize: 1,
      serialLanes: ['normal'],
      run: async (jobs) => {
        started++;
        await sleep(50);
        return jobs.map(() => DONE);
      },
    };
    await store.enqueueJobs(Array.from({ length: 10 }, () => spec({ kind: 'slow', lane: 'normal' })));
    const worker = await startWorker({ store, signal, handlers: [slow] });
    await waitFor(() => started === 1, 'the first batch');
    await worker.stop(20);
    const atStop = started;
    await sleep(300);
    expect(started).toBe(atStop);
    expect((await store.countJobs()).ready).toBeGreaterThan(5);
  });

  it("starts none of its queued bulk batches once a stop's grace ran out and their leases went back", async () => {
    const { store, signal } = setup();
    let started = 0;
    const slow: JobHandler = {
      kind: 'slow',
      batchSize: 20,
      bulkBatchSize: 1,
      run: async (jobs) => {
        started++;
        await sleep(50);
        return jobs.map(() => DONE);
      },
    };
    await store.enqueueJobs(Array.from({ length: 20 }, () => spec({ kind: 'slow', lane: 'bulk' })));
    const worker = await startWorker({ store, signal, handlers: [slow] });
    await waitFor(() => started === 1, 'the first batch');
    await worker.stop(20);
    const atStop = started;
    expect((await store.countJobs()).ready).toBeGreaterThan(10);
    // Queued behind the batch that was running: none of them may start now.
    await sleep(300);
    expect(started).toBe(atStop);
    // Given back unfinished, not failed: their claim did not cost them an attempt.
    const again = await store.claimJobs({
      owner: 'next',
      now: Date.now(),
      leaseMs: 10_000,
      quotas: [{ lane: 'bulk', limit: 20 }],
    });
    expect(again.length).toBeGreaterThan(10);
    expect(again.every((job) => job.attempts === 1)).toBe(true);
  });

  it("keeps the last quarter of a lane for other tenants while one tenant's jobs hang", async () => {
    const { store, signal } = setup();
    let release: () => void = () => undefined;
    const hanging = new Promise<void>((resolve) => {
      release = resolve;
    });
    const started: string[] = [];
    const finished: string[] = [];
    await startWorker({
      store,
      signal,
      // normal: 6 of 8 slots; three quarters of them is 5.
      concurrency: 8,
      pollMs: 60_000,
      handlers: [
        handler('work', async (job) => {
          started.push(job.tenantId);
          if (job.tenantId === 'slow') await hanging;
          finished.push(job.tenantId);
          return DONE;
        }),
      ],
    });
    await store.enqueueJobs(Array.from({ length: 10 }, () => spec({ tenantId: 'slow' })));
    signal.notify('normal');
    await waitFor(() => started.length === 5, "the slow tenant's jobs to take three quarters of the lane");
    await store.enqueueJobs([spec({ tenantId: 'prompt' })]);
    signal.notify('normal');
    await waitFor(() => finished.includes('prompt'), "the other tenant's job, while the slow ones hang");
    expect(finished).toEqual(['prompt']);
    expect(started.filter((tenant) => tenant === 'slow')).toHaveLength(5);
    release();
    await waitFor(() => finished.length === 11, 'every job, once the slow ones answer');
  });

  it('finishes in-flight jobs on stop and claims nothing after', async () => {
    const { store, signal } = setup();
    let finished = 0;
    await store.enqueueJobs(Array.from({ length: 3 }, () => spec()));
    const worker = await startWorker({
      store,
      signal,
      handlers: [
        handler('work', async () => {
          await sleep(100);
          finished++;
          return DONE;
        }),
      ],
    });
    await sleep(30);
    await worker.stop(2000);
    workers = [];
    expect(finished).toBe(3);
    await store.enqueueJobs([spec()]);
    signal.notify('normal');
    await sleep(50);
    expect(await store.countJobs()).toEqual({ ready: 1, leased: 0, dead: 0 });
  });
});
