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
};

/**
 * The checkpoint thread's connection on a clock of its own: each pass takes `passMs`, urgent work
 * runs until `urgentUntil`; answers what happened when.
 */
function fakeLog(options: { logPages: number; urgentUntil?: number; passMs?: number }) {
  const { logPages, urgentUntil = 0, passMs = 5 } = options;
  let now = 0;
  const passes: { at: number; locked: boolean }[] = [];
  const log: LogCopying = {
    copy() {
      passes.push({ at: now, locked: false });
      now += passMs;
      return { busy: 0, log: logPages, checkpointed: logPages };
    },
    copyLocked() {
      passes.push({ at: now, locked: true });
      now += passMs;
    },
    urgentActive: () => now < urgentUntil,
    untilUrgentRests(deadline) {
      if (now < urgentUntil) now = Math.max(now, Math.min(deadline, urgentUntil));
    },
    now: () => now,
  };
  return { log, passes };
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
