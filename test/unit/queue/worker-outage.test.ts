import { afterEach, describe, expect, it } from 'vitest';
import { DONE, type JobHandler, type JobResult } from '../../../src/queue/handler.ts';
import { JobSignal } from '../../../src/queue/signal.ts';
import { Worker } from '../../../src/queue/worker.ts';
import { StoreUnavailableError } from '../../../src/store/errors.ts';
import type { Job, Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { waitFor } from '../../helpers/wait.ts';

// A database restart makes result writes fail for a moment. With a lease far longer than the
// test, a job only finishes in time if the worker writes its result again once the store is back
// (rather than leaving it leased until the lease expires).

let store: Store | null = null;
let worker: Worker | null = null;

afterEach(async () => {
  await worker?.stop(100);
  await store?.close();
  worker = null;
  store = null;
});

/**
 * `inner`, except that `method` fails like an unreachable database the first `times` calls (as
 * a store reports it: a StoreUnavailableError around the driver's error).
 */
function failingFirst(inner: Store, method: keyof Store, times: number, code = 'ECONNREFUSED'): Store {
  let left = times;
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== method || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (left-- > 0)
          throw new StoreUnavailableError(
            Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code }),
          );
        return value.apply(target, args);
      };
    },
  });
}

function handler(run: (job: Job) => JobResult): JobHandler {
  return { kind: 'work', batchSize: 1, run: async (jobs) => jobs.map(run) };
}

async function start(wrapped: Store, run: (job: Job) => JobResult): Promise<void> {
  worker = new Worker({
    store: wrapped,
    signal: new JobSignal(),
    logger: silentLogger(),
    handlers: [handler(run)],
    leaseMs: 600_000,
    pollMs: 50,
    backoff: { baseMs: 1, capMs: 1 },
  });
  await worker.start();
}

describe('Worker while the store is briefly unreachable', () => {
  it('completes a finished job once the store answers again, without running it twice', async () => {
    const inner = openSqliteStore({ file: ':memory:' });
    store = inner;
    await inner.enqueueJobs([{ tenantId: 't', kind: 'work', lane: 'normal', payload: null }]);
    let runs = 0;
    await start(failingFirst(inner, 'completeJobs', 3), () => {
      runs++;
      return DONE;
    });
    await waitFor(
      async () => (await inner.countJobs()).leased + (await inner.countJobs()).ready === 0,
      'completion',
      3000,
    );
    expect(runs).toBe(1);
  });

  it('records a retry once the store answers again', async () => {
    const inner = openSqliteStore({ file: ':memory:' });
    store = inner;
    await inner.enqueueJobs([{ tenantId: 't', kind: 'work', lane: 'normal', payload: null, maxAttempts: 5 }]);
    const attempts: number[] = [];
    await start(failingFirst(inner, 'retryJob', 2, '57P03'), (job) => {
      attempts.push(job.attempts);
      return job.attempts === 1 ? { kind: 'retry', error: 'not yet', delayMs: 0 } : DONE;
    });
    await waitFor(() => attempts.length === 2, 'the second attempt', 3000);
    await waitFor(async () => (await inner.countJobs()).leased === 0, 'completion', 3000);
    expect(attempts).toEqual([1, 2]);
  });

  it('takes back at once jobs of a claim that committed but answered with an error', async () => {
    const inner = openSqliteStore({ file: ':memory:' });
    store = inner;
    await inner.enqueueJobs([{ tenantId: 't', kind: 'work', lane: 'normal', payload: 'lost claim' }]);
    // The first claim commits its leases, then the connection drops before the answer arrives.
    let dropped = false;
    const wrapped = new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'claimJobs') return value;
        return async (...args: Parameters<Store['claimJobs']>) => {
          const jobs = await target.claimJobs(...args);
          if (dropped) return jobs;
          dropped = true;
          throw new StoreUnavailableError(new Error('Connection terminated unexpectedly'));
        };
      },
    });
    const ran: unknown[] = [];
    // Its lease (600 s, see start) would otherwise keep the job from running for ten minutes.
    await start(wrapped, (job) => {
      ran.push(job.payload);
      return DONE;
    });
    await waitFor(() => ran.length === 1, 'the job of the lost claim to run', 3000);
    expect(dropped).toBe(true);
    expect(ran).toEqual(['lost claim']);
  });

  it('does not count attempts that failed because the store was unreachable', async () => {
    const inner = openSqliteStore({ file: ':memory:' });
    store = inner;
    await inner.enqueueJobs([{ tenantId: 't', kind: 'work', lane: 'normal', payload: null, maxAttempts: 2 }]);
    // The handler's own reads fail like a restarting database five times: more than maxAttempts.
    const flaky = failingFirst(inner, 'getEvents', 5);
    const attempts: number[] = [];
    worker = new Worker({
      store: inner,
      signal: new JobSignal(),
      logger: silentLogger(),
      handlers: [
        {
          kind: 'work',
          batchSize: 1,
          async run(jobs) {
            attempts.push(jobs[0]!.attempts);
            await flaky.getEvents([]);
            return [DONE];
          },
        },
      ],
      pollMs: 20,
      storeRetryMs: 10,
    });
    await worker.start();
    await waitFor(
      async () => attempts.length === 6 && (await inner.countJobs()).leased === 0,
      'completion',
      5000,
    );
    expect(await inner.countJobs()).toEqual({ ready: 0, leased: 0, dead: 0 });
    expect(attempts).toEqual([1, 1, 1, 1, 1, 1]);
  });
});
