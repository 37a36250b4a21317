import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { JobSignal } from '../../src/queue/signal.ts';
import { CHECKPOINT_POLICY } from '../../src/store/sqlite/checkpoint-policy.ts';
import { startCheckpointThread } from '../../src/store/sqlite/checkpointer.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { ThreadWriteLock } from '../../src/store/sqlite/write-lock.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

const PAGE = 4096;
const RESTART_AT_PAGES = 256;
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A store opened as `tidings start` opens it (background checkpoints), and a writer that keeps
 * committing small transactions under the shared write lock, as the API and worker threads do.
 * Answers the largest size the log reached, in pages.
 */
async function writeAndWatchLog(withCheckpointThread: boolean): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-checkpoint-'));
  dirs.push(dir);
  const file = path.join(dir, 'test.db');
  const writeLock = ThreadWriteLock.create();
  const store = openSqliteStore({ file, writeLock, checkpoints: 'background' });
  const thread = withCheckpointThread
    ? await startCheckpointThread(file, writeLock, JobSignal.createIncoming(), createLogger('silent'), {
        intervalMs: 10,
        restartAtPages: RESTART_AT_PAGES,
        // Not what this measures: here it would fdatasync on every round of copying (both every
        // 10 ms), and on a machine busy with other test files that left the copying behind.
        flushMs: 0,
      })
    : null;
  // A writer connection configured as the store's own are.
  const db = new Database(file);
  db.pragma(`wal_autocheckpoint = ${CHECKPOINT_POLICY.writerBackstopPages}`);
  const lock = new ThreadWriteLock(writeLock);
  db.exec('CREATE TABLE filler (k INTEGER PRIMARY KEY, v BLOB)');
  const insert = db.prepare('INSERT INTO filler (v) VALUES (?)');
  const commit = db.transaction(() => {
    for (let i = 0; i < 10; i++) insert.run(Buffer.alloc(3000));
  });
  let largest = 0;
  // About 8,000 pages in all, far more than RESTART_AT_PAGES and far less than the backstop.
  for (let round = 0; round < 800; round++) {
    lock.run(() => commit());
    // The thread needs CPU to checkpoint: on a machine busy with other test files it got none in a
    // run that yielded only 1 ms every 4 commits (the log reached 6,000 pages). Yield as a server's
    // writers do between requests: every commit, and now and then for longer.
    await new Promise((resolve) => setTimeout(resolve, round % 50 === 0 ? 20 : 1));
    largest = Math.max(largest, statSync(`${file}-wal`).size);
  }
  await thread?.stop();
  db.close();
  await store.close();
  return Math.round(largest / PAGE);
}

describe('SQLite checkpoint thread', () => {
  it('keeps the write-ahead log short while writers keep committing', async () => {
    expect(await writeAndWatchLog(true)).toBeLessThan(RESTART_AT_PAGES * 4);
  });

  it('is what keeps it short: without it the log grows towards the writers backstop', async () => {
    expect(await writeAndWatchLog(false)).toBeGreaterThan(6000);
  });
});
