import { closeSync, fdatasyncSync, fstatSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { askBulkWritesToWait, urgentWorkActive } from '../../queue/signal.ts';
import {
  CHECKPOINT_POLICY,
  type CheckpointPolicy,
  type CheckpointResult,
  copyLog,
  type LogCopying,
} from './checkpoint-policy.ts';
import { ThreadWriteLock } from './write-lock.ts';

/** Messages between the thread that owns the store and its checkpoint thread. */
export type ToCheckpointThread = { type: 'stop' };
export type FromCheckpointThread = { type: 'ready' };

// The body of the checkpoint thread (see checkpointer.ts): its own connection, which never
// writes rows; it copies the log into the database file while the writers go on.
const {
  file,
  writeLock,
  urgentWork,
  policy: overrides,
} = workerData as {
  file: string;
  writeLock: Int32Array;
  /** The process's JobSignal counters (urgentWorkActive). */
  urgentWork: Int32Array;
  policy?: Partial<CheckpointPolicy>;
};
const policy: CheckpointPolicy = { ...CHECKPOINT_POLICY, ...overrides };
const port = parentPort!;
const db = new Database(file);
const lock = new ThreadWriteLock(writeLock);
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const nap = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));

/**
 * Waits (1 ms at a time, flushing the log as often as ever) until no urgent work is being
 * accepted or run, or until `deadline`.
 */
function untilUrgentWorkRests(deadline: number): void {
  while (urgentWorkActive(urgentWork) && performance.now() < deadline) {
    Atomics.wait(nap, 0, 0, 1);
    flushWhenDue();
  }
}

const log: LogCopying = {
  copy: () => checkpoint.get() as CheckpointResult,
  copyLocked: () => lock.run(() => checkpoint.get()),
  askBulkToWait: (wait) => askBulkWritesToWait(urgentWork, wait),
  urgentActive: () => urgentWorkActive(urgentWork),
  untilUrgentRests: untilUrgentWorkRests,
  now: () => performance.now(),
};

/**
 * Flushes what writers appended to the log since the last flush. SQLite keeps no lock on the log
 * file itself (its locks are on the database and -shm files), so a descriptor of our own is safe
 * to open and close. A log deleted (its last connection closed) is opened again once it is back.
 */
class LogFlusher {
  private fd: number | null = null;
  private lastChange = -1n;

  flush(): void {
    try {
      this.fd ??= openSync(`${file}-wal`, 'r');
      const stat = fstatSync(this.fd, { bigint: true });
      if (stat.nlink === 0n) {
        this.close();
        return;
      }
      if (stat.mtimeNs === this.lastChange) return;
      this.lastChange = stat.mtimeNs;
      fdatasyncSync(this.fd);
    } catch {
      // No log right now (ENOENT), or one that cannot be flushed (EIO, ENOSPC, EMFILE): flushing
      // only saves later commits time, so it never ends the thread. Checkpoints meet the same
      // disk and fail loudly.
      this.close();
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.lastChange = -1n;
  }
}

const flusher = new LogFlusher();
let nextFlushAt = 0;

function flushWhenDue(): void {
  if (policy.flushMs <= 0 || performance.now() < nextFlushAt) return;
  nextFlushAt = performance.now() + policy.flushMs;
  flusher.flush();
}

let nextCopyAt = 0;
const tickMs = policy.flushMs > 0 ? Math.min(policy.flushMs, policy.intervalMs) : policy.intervalMs;
const timer = setInterval(() => {
  flushWhenDue();
  if (performance.now() < nextCopyAt) return;
  nextCopyAt = performance.now() + policy.intervalMs;
  try {
    copyLog(log, policy);
  } catch (error) {
    // Another connection checkpointing at the same moment (a writer's backstop): next round.
    // Anything else ends the thread, which is logged and restarted.
    const code = (error as { code?: string }).code;
    if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') throw error;
  }
}, tickMs);
port.on('message', (message: ToCheckpointThread) => {
  if (message.type !== 'stop') return;
  clearInterval(timer);
  flusher.close();
  db.close();
  port.close();
});
port.postMessage({ type: 'ready' } satisfies FromCheckpointThread);
