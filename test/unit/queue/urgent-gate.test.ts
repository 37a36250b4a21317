import { describe, expect, it } from 'vitest';
import { askBulkWritesToWait, JobSignal } from '../../../src/queue/signal.ts';
import { LOG_RESTART_HOLD_MS, UrgentGate } from '../../../src/queue/urgent-gate.ts';

/** A gate with no urgent work that the log's restart asks to wait through `logRestart`. */
const gateOf = (logRestart: ConstructorParameters<typeof UrgentGate>[2]) =>
  new UrgentGate(
    () => 0,
    () => false,
    logRestart,
  );

/** A log restart that asks until `end()`, and counts the gate's waits for it. */
function heldRestart() {
  let asked = true;
  let release = () => {};
  const ended = new Promise<void>((resolve) => {
    release = resolve;
  });
  const waits: number[] = [];
  return {
    waits,
    end() {
      asked = false;
      release();
    },
    restart: {
      waiting: () => asked,
      over: (ms: number) => {
        waits.push(ms);
        return ended;
      },
    },
  };
}

describe('UrgentGate: the log restart asks the bulk lane to wait', () => {
  it('holds a yield point while asked, at most LOG_RESTART_HOLD_MS, and lets it go when the ask ends', async () => {
    const held = heldRestart();
    let passed = false;
    const pass = gateOf(held.restart)
      .pass(() => false)
      .then(() => {
        passed = true;
      });
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(passed).toBe(false);
    expect(held.waits).toHaveLength(1);
    expect(held.waits[0]).toBeLessThanOrEqual(LOG_RESTART_HOLD_MS);
    held.end();
    await pass;
    expect(passed).toBe(true);
  });

  it('does not wait when not asked, nor once the worker stops', async () => {
    const held = heldRestart();
    await gateOf(held.restart).pass(() => true);
    held.end();
    await gateOf(held.restart).pass(() => false);
    expect(held.waits).toEqual([]);
  });

  it('through the JobSignal, waits at most LOG_RESTART_HOLD_MS when the ask never ends (a checkpoint thread gone)', async () => {
    const signal = new JobSignal();
    askBulkWritesToWait(signal.incomingCounter, true);
    const started = performance.now();
    await gateOf({ waiting: () => signal.bulkWritesWait(), over: (ms) => signal.bulkWritesMayGo(ms) }).pass(
      () => false,
    );
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(LOG_RESTART_HOLD_MS - 2);
    expect(waited).toBeLessThan(LOG_RESTART_HOLD_MS + 1_000);
  });
});
