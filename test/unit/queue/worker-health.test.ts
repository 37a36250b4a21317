import { afterEach, describe, expect, it } from 'vitest';
import { JobSignal } from '../../../src/queue/signal.ts';
import { Worker } from '../../../src/queue/worker.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { waitFor } from '../../helpers/wait.ts';

let store: Store | null = null;
let worker: Worker | null = null;

afterEach(async () => {
  await worker?.stop(100);
  await store?.close();
  worker = null;
  store = null;
});

/** `inner`, except that claims fail like a damaged SQLite file while `broken.now` is true. */
function claimsFailWhile(inner: Store, broken: { now: boolean }): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== 'claimJobs' || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (broken.now)
          throw Object.assign(new Error('database disk image is malformed'), {
            name: 'SqliteError',
            code: 'SQLITE_CORRUPT',
          });
        return value.apply(target, args);
      };
    },
  });
}

describe("Worker health (what /readyz reports of a process's workers)", () => {
  it('reports failing claims with the store error while they fail, and recovers with the first claim that works', async () => {
    store = openSqliteStore({ file: ':memory:' });
    const broken = { now: false };
    const changes: (string | null)[] = [];
    worker = new Worker({
      store: claimsFailWhile(store, broken),
      signal: new JobSignal(),
      logger: silentLogger(),
      handlers: [],
      pollMs: 20,
      onHealthChange: (problem) => changes.push(problem),
    });
    await worker.start();
    await waitFor(() => worker!.claimCycles > 0, 'a first claim');
    expect(worker.health()).toBeNull();

    broken.now = true;
    const problem = await waitFor(() => worker!.health(), 'claims to be reported failing');
    expect(problem).toMatch(/cannot claim jobs since .*SQLITE_CORRUPT: database disk image is malformed/);

    broken.now = false;
    await waitFor(() => worker!.health() === null, 'claims to work again');
    // Told once when it broke and once when it healed, not at every failed claim.
    expect(changes).toEqual([problem, null]);
  });
});
