import { threadId } from 'node:worker_threads';
import type Database from 'better-sqlite3';

const LOCKED = 0;
const WAITING = 1;
const LAST_OWNER = 2;
/** How long a thread that just released the lock waits for a waiting thread to take it. */
const HANDOFF_WAIT_MS = 5;

/**
 * A write lock shared by the threads of one process that open the same SQLite file. SQLite
 * serialises writers anyway, but a blocked writer waits in SQLite's busy handler, which sleeps
 * 1, 2, 5, 10… ms between tries; here a waiting thread sleeps on a futex and wakes the moment the
 * lock is free. Reentrant within a thread (a statement inside a transaction takes it again).
 *
 * It is polite: a thread that held the lock last and wants it again while another thread waits
 * first lets that thread in. Without this, a worker thread committing batch after batch
 * re-took the lock before the woken API thread ran, and a bulk request waited half a second
 * behind a dozen delivery batches. The wait for the hand-off is bounded, so a thread that stopped
 * while waiting cannot stall the others for long.
 */
export class ThreadWriteLock {
  private depth = 0;
  private readonly me = threadId + 1;

  private readonly handoffWaitMs: number;

  /** `shared` is an Int32Array over a SharedArrayBuffer, the same one in every thread. */
  constructor(
    private readonly shared: Int32Array,
    options: { handoffWaitMs?: number } = {},
  ) {
    this.handoffWaitMs = options.handoffWaitMs ?? HANDOFF_WAIT_MS;
  }

  static create(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  }

  run<T>(work: () => T): T {
    if (this.depth === 0) this.acquire();
    this.depth++;
    try {
      return work();
    } finally {
      this.depth--;
      if (this.depth === 0) {
        Atomics.store(this.shared, LOCKED, 0);
        Atomics.notify(this.shared, LOCKED, 1);
      }
    }
  }

  private acquire(): void {
    const { shared, me } = this;
    if (Atomics.load(shared, WAITING) > 0 && Atomics.load(shared, LAST_OWNER) === me) {
      Atomics.wait(shared, LAST_OWNER, me, this.handoffWaitMs);
    }
    // Counted as waiting until the lock is taken, so the releasing thread keeps deferring to it
    // while it wakes up.
    let waiting = false;
    while (Atomics.compareExchange(shared, LOCKED, 0, 1) !== 0) {
      if (!waiting) Atomics.add(shared, WAITING, 1);
      waiting = true;
      Atomics.wait(shared, LOCKED, 1, 100);
    }
    if (waiting) Atomics.sub(shared, WAITING, 1);
    if (Atomics.exchange(shared, LAST_OWNER, me) !== me) Atomics.notify(shared, LAST_OWNER);
  }
}

type TransactionFn = Database.Transaction<(...args: never[]) => unknown>;

/** Makes every write through `db` (transactions and writing statements) take `lock` first. */
export function guardWrites(db: Database.Database, lock: ThreadWriteLock): void {
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: (...args: never[]) => unknown) => {
    const tx = transaction(fn) as TransactionFn;
    const guarded = ((...args: never[]) => lock.run(() => tx(...args))) as TransactionFn;
    for (const mode of ['deferred', 'immediate', 'exclusive'] as const) {
      guarded[mode] = (...args: never[]) => lock.run(() => tx[mode](...args));
    }
    return guarded;
  }) as typeof db.transaction;

  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const statement = prepare(source);
    if (statement.readonly) return statement;
    for (const method of ['run', 'get', 'all'] as const) {
      const original = statement[method].bind(statement) as (...args: unknown[]) => unknown;
      (statement as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        lock.run(() => original(...args));
    }
    return statement;
  }) as typeof db.prepare;
}
