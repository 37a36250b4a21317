import type Database from 'better-sqlite3';

/**
 * A write lock shared by the threads of one process that open the same SQLite file. SQLite
 * serialises writers anyway, but a blocked writer waits in SQLite's busy handler, which sleeps
 * 1, 2, 5, 10… ms between tries; here a waiting thread sleeps on a futex and wakes the moment the
 * lock is free. Reentrant within a thread (a statement inside a transaction takes it again).
 */
export class ThreadWriteLock {
  private depth = 0;

  /** `shared` is an Int32Array over a SharedArrayBuffer, the same one in every thread. */
  constructor(private readonly shared: Int32Array) {}

  static create(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(4));
  }

  run<T>(work: () => T): T {
    if (this.depth === 0) {
      while (Atomics.compareExchange(this.shared, 0, 0, 1) !== 0) Atomics.wait(this.shared, 0, 1, 100);
    }
    this.depth++;
    try {
      return work();
    } finally {
      this.depth--;
      if (this.depth === 0) {
        Atomics.store(this.shared, 0, 0);
        Atomics.notify(this.shared, 0, 1);
      }
    }
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
