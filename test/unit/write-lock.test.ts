import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ThreadWriteLock } from '../../src/store/sqlite/write-lock.ts';

// Each thread repeatedly takes the lock, reads a shared counter, spins a little, writes it back +1.
// Without mutual exclusion increments are lost; with it the total is exact.
const THREAD_BODY = `
const { workerData, parentPort } = require('node:worker_threads');
const lock = workerData.lock, counter = workerData.counter;
for (let i = 0; i < workerData.rounds; i++) {
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 100);
  const seen = counter[0];
  for (let spin = 0; spin < 200; spin++);
  counter[0] = seen + 1;
  Atomics.store(lock, 0, 0);
  Atomics.notify(lock, 0, 1);
}
parentPort.postMessage('done');
`;

describe('ThreadWriteLock', () => {
  it('is reentrant within a thread', () => {
    const lock = new ThreadWriteLock(ThreadWriteLock.create());
    expect(lock.run(() => lock.run(() => 'inner'))).toBe('inner');
  });

  it('releases the lock when the work throws', () => {
    const shared = ThreadWriteLock.create();
    const lock = new ThreadWriteLock(shared);
    expect(() =>
      lock.run(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(Atomics.load(shared, 0)).toBe(0);
  });

  it('excludes other threads that share the buffer', async () => {
    const shared = ThreadWriteLock.create();
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const lock = new ThreadWriteLock(shared);
    const rounds = 2000;
    const threads = [1, 2, 3].map(
      () => new Worker(THREAD_BODY, { eval: true, workerData: { lock: shared, counter, rounds } }),
    );
    const finished = threads.map(
      (t) =>
        new Promise((resolve, reject) => {
          t.once('message', resolve);
          t.once('error', reject);
        }),
    );
    for (let i = 0; i < rounds; i++) {
      lock.run(() => {
        const seen = counter[0]!;
        for (let spin = 0; spin < 200; spin++);
        counter[0] = seen + 1;
      });
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(finished);
    expect(counter[0]).toBe(rounds * 4);
  });
});
