import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_POLICY,
  type CheckpointPolicy,
  copyLog,
  type LogCopying,
} from '../../../src/store/sqlite/checkpoint-policy.ts';

const POLICY: CheckpointPolicy = {
  ...CHECKPOINT_POLICY,
  intervalMs: 100,
  restartAtPages: 1000,
  urgentWaitMs: 250,
  quietMs: 0,
};

/**
 * The checkpoint thread's connection on a clock of its own: each pass takes `passMs`, urgent work
 * runs until `urgentUntil`; answers what happened when.
 */
function fakeLog(options: {
  logPages: number;
  urgentUntil?: number;
  passMs?: number;
  /** Pages writers append during pass `index` (from 0), given whether bulk writes are held. */
  appends?: (index: number, bulkWaits: boolean) => number;
}) {
  const { urgentUntil = 0, passMs = 5, appends = () => 0 } = options;
  let now = 0;
  let logPages = options.logPages;
  let bulkWaits = false;
  const passes: { at: number; locked: boolean }[] = [];
  const asked: { at: number; wait: boolean }[] = [];
  const log: LogCopying = {
    copy() {
      // A pass copies every page in the log when it starts; writers append behind it.
      const result = { busy: 0, log: logPages, checkpointed: logPages };
      logPages += appends(passes.length, bulkWaits);
      passes.push({ at: now, locked: false });
      now += passMs;
      return result;
    },
    copyLocked() {
      passes.push({ at: now, locked: true });
      now += passMs;
    },
    askBulkToWait(wait) {
      bulkWaits = wait;
      asked.push({ at: now, wait });
    },
    urgentActive: () => now < urgentUntil,
    untilUrgentRests(deadline) {
      if (now < urgentUntil) now = Math.max(now, Math.min(deadline, urgentUntil));
    },
    now: () => now,
  };
  /** A writer restarts the log. */
  const restart = () => {
    logPages = 0;
  };
  return { log, passes, asked, restart };
}

describe('copyLog (a round of the SQLite checkpoint thread)', () => {
  const copied = (...at: number[]) => at.map((t) => ({ at: t, locked: false }));
  const locked = (at: number) => ({ at, locked: true });

  it.each([
    ['copies a short log once, without the write lock', 999, 0, false, copied(0)],
    [
      'finishes a long log under the lock right after a second pass when no urgent work runs',
      1000,
      0,
      true,
      [...copied(0, 5), locked(10)],
    ],
    [
      'waits for urgent work to rest, then copies what came meanwhile before taking the lock',
      1000,
      40,
      true,
      [...copied(0, 40), locked(45)],
    ],
    [
      'keeps copying every interval while urgent work runs',
      1000,
      230,
      true,
      [...copied(0, 105, 210, 230), locked(235)],
    ],
  ])('%s', (_name, logPages, urgentUntil, tookLock, expected) => {
    const { log, passes } = fakeLog({ logPages, urgentUntil });
    expect(copyLog(log, POLICY)).toBe(tookLock);
    expect(passes).toEqual(expected);
  });

  it('takes the lock anyway once it has waited urgentWaitMs', () => {
    const { log, passes } = fakeLog({ logPages: 1000, urgentUntil: 10_000 });
    copyLog(log, POLICY);
    expect(passes.at(-1)).toEqual({ at: 260, locked: true });
    expect(passes.filter((p) => p.locked)).toHaveLength(1);
  });
});

describe('copyLog with the bulk lane asked to wait (quietMs)', () => {
  const QUIET: CheckpointPolicy = { ...POLICY, quietMs: 40 };
  const copied = (...at: number[]) => at.map((t) => ({ at: t, locked: false }));

  it('finishes a long log without the lock once a pass finds nothing appended since the one before', () => {
    // Bulk writes append until asked to wait; nobody else writes.
    const { log, passes, asked } = fakeLog({
      logPages: 1000,
      appends: (_i, bulkWaits) => (bulkWaits ? 0 : 50),
    });
    expect(copyLog(log, QUIET)).toBe(true);
    expect(passes).toEqual(copied(0, 5, 10));
    expect(asked).toEqual([
      { at: 5, wait: true },
      { at: 15, wait: false },
    ]);
  });

  it('lets other writers go on meanwhile: an urgent write costs one more pass', () => {
    // An accept commits during the first pass of the wait.
    const { log, passes } = fakeLog({ logPages: 1000, appends: (i) => (i === 1 ? 3 : 0) });
    expect(copyLog(log, QUIET)).toBe(true);
    expect(passes).toEqual(copied(0, 5, 10, 15));
  });

  it('counts a log a writer restarted meanwhile as finished', () => {
    const fake = fakeLog({ logPages: 1000, appends: () => 10 });
    const copy = fake.log.copy.bind(fake.log);
    let passes = 0;
    fake.log.copy = () => {
      if (++passes === 3) fake.restart();
      return copy();
    };
    expect(copyLog(fake.log, QUIET)).toBe(true);
    expect(fake.passes.some((p) => p.locked)).toBe(false);
  });

  it('lets the bulk lane go and finishes under the lock when writers keep appending for quietMs', () => {
    const { log, passes, asked } = fakeLog({ logPages: 1000, appends: () => 10 });
    expect(copyLog(log, QUIET)).toBe(true);
    const lockedAt = passes.find((p) => p.locked)!.at;
    expect(asked).toEqual([
      { at: 5, wait: true },
      { at: 45, wait: false },
    ]);
    expect(lockedAt).toBeGreaterThanOrEqual(45);
    expect(passes.filter((p) => p.locked)).toHaveLength(1);
  });

  it('stops asking at once when a reader keeps the end of the log from being copied', () => {
    const fake = fakeLog({ logPages: 1000 });
    const copy = fake.log.copy.bind(fake.log);
    fake.log.copy = () => ({ ...copy(), checkpointed: 900 });
    expect(copyLog(fake.log, QUIET)).toBe(true);
    expect(fake.asked).toEqual([
      { at: 5, wait: true },
      { at: 15, wait: false },
    ]);
    expect(fake.passes.filter((p) => p.locked)).toHaveLength(1);
  });

  it('never asks for a short log, nor with quietMs 0', () => {
    const short = fakeLog({ logPages: 999 });
    expect(copyLog(short.log, QUIET)).toBe(false);
    expect(short.asked).toEqual([]);
    const off = fakeLog({ logPages: 1000 });
    copyLog(off.log, POLICY);
    expect(off.asked).toEqual([]);
  });
});
