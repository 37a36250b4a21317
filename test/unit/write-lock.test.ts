import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ThreadWriteLock } from '../../src/store/sqlite/write-lock.ts';

const LOCK_MODULE = pathToFileURL(
  new URL('../../src/store/sqlite/write-lock.ts', import.meta.url).pathname,
).href;

/** Starts a thread that runs `body` with `lock` (a real ThreadWriteLock on the shared buffer) in scope. */
function lockThread(body: string, workerData: Record<string, unknown>): Promise<unknown> {
  const source = `
const { workerData, parentPort } = require('node:worker_threads');
import('tsx/esm/api')
  .then(({ register }) => { register(); return import(${JSON.stringify(LOCK_MODULE)}); })
  .then(({ ThreadWriteLock }) => {
    const lock = new ThreadWriteLock(workerData.shared);
    ${body}
    parentPort.postMessage('done');
  });
`;
  const thread = new Worker(source, { eval: true, workerData });
  return new Promise((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
  });
}

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
    expect(lock.run(() => 'again')).toBe('again');
  });

  it('excludes other threads that share the buffer', async () => {
    // Each thread reads a shared counter, spins a little, writes it back +1: without mutual
    // exclusion increments are lost; with it the total is exact.
    const shared = ThreadWriteLock.create();
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const lock = new ThreadWriteLock(shared);
    const rounds = 2000;
    const increment = () => {
      const seen = counter[0]!;
      for (let spin = 0; spin < 200; spin++);
      counter[0] = seen + 1;
    };
    const finished = [1, 2, 3].map(() =>
      lockThread(
        `for (let i = 0; i < workerData.rounds; i++) lock.run(() => {
           const seen = workerData.counter[0];
           for (let spin = 0; spin < 200; spin++);
           workerData.counter[0] = seen + 1;
         });`,
        { shared, counter, rounds },
      ),
    );
    for (let i = 0; i < rounds; i++) {
      lock.run(increment);
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(finished);
    expect(counter[0]).toBe(rounds * 4);
  });

  it('lets a waiting thread in before the thread that held it last takes it again', async () => {
    const shared = ThreadWriteLock.create();
    const state = new Int32Array(new SharedArrayBuffer(8)); // [asking, inside]
    // A generous hand-off wait, so a slow-to-wake thread on a busy machine still makes it.
    const lock = new ThreadWriteLock(shared, { handoffWaitMs: 2000 });
    let finished: Promise<unknown> = Promise.resolve();
    lock.run(() => {
      finished = lockThread(
        `Atomics.store(workerData.state, 0, 1);
         lock.run(() => Atomics.store(workerData.state, 1, 1));`,
        { shared, state },
      );
      const deadline = performance.now() + 10_000;
      while (Atomics.load(state, 0) === 0 && performance.now() < deadline);
      // Give it time to block on the lock.
      const until = performance.now() + 200;
      while (performance.now() < until);
    });
    // Released and wanted again at once: the waiting thread must have had its turn by now.
    const otherWentFirst = lock.run(() => Atomics.load(state, 1));
    await finished;
    expect(otherWentFirst).toBe(1);
  });
});
