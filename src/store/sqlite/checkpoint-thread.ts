import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  CHECKPOINT_POLICY,
  type CheckpointPolicy,
  type CheckpointResult,
  shouldRestartLog,
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
  policy: overrides,
} = workerData as {
  file: string;
  writeLock: Int32Array;
  policy?: Partial<CheckpointPolicy>;
};
const policy: CheckpointPolicy = { ...CHECKPOINT_POLICY, ...overrides };
const port = parentPort!;
const db = new Database(file);
const lock = new ThreadWriteLock(writeLock);
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

function copyLog(): void {
  const result = checkpoint.get() as CheckpointResult;
  if (!shouldRestartLog(result, policy)) return;
  // Writers append while it copies, and a writer restarts the log from its beginning only if its
  // transaction starts when every page has been copied. So once the log is long: copy what was
  // appended during that pass (writers still going, a shorter pass), then the few pages appended
  // during this one while writers wait. The next writer restarts the log.
  checkpoint.get();
  lock.run(() => checkpoint.get());
}

const timer = setInterval(() => {
  try {
    copyLog();
  } catch (error) {
    // Another connection checkpointing at the same moment (a writer's backstop): next round.
    // Anything else ends the thread, which is logged and restarted.
    const code = (error as { code?: string }).code;
    if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') throw error;
  }
}, policy.intervalMs);
port.on('message', (message: ToCheckpointThread) => {
  if (message.type !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});
port.postMessage({ type: 'ready' } satisfies FromCheckpointThread);
