import { describe, expect, it } from 'vitest';
import {
  admit,
  type Breaker,
  type BreakerSettings,
  CLOSED,
  DEFAULT_BREAKER,
  p90,
  p90Exceeds,
  recordCall,
  releaseProbe,
  reopensAt,
} from '../../../src/providers/circuit-breaker.ts';

const S: BreakerSettings = { ...DEFAULT_BREAKER, coolDownMs: 30_000, slowCallMs: 1_000, probes: 2 };
const T0 = 1_700_000_000_000;
const ORDINARY = { admitted: true, probe: false } as const;
const PROBE = { admitted: true, probe: true } as const;
const ok = (latencyMs = 10) => ({ ok: true, latencyMs });
const fail = (latencyMs = 10) => ({ ok: false, latencyMs });

/** Feeds calls (true = success) to a closed breaker, all admitted as ordinary calls. */
function feed(
  calls: readonly ({ ok: boolean; latencyMs: number } | boolean)[],
  start: Breaker = CLOSED,
): Breaker {
  let b = start;
  for (const c of calls) b = recordCall(b, typeof c === 'boolean' ? (c ? ok() : fail()) : c, ORDINARY, T0, S);
  return b;
}

const repeat = <T>(n: number, value: T): T[] => Array.from({ length: n }, () => value);

describe('circuit breaker: closed → open', () => {
  it.each([
    ['no calls', [], 'closed'],
    ['4 failures: fewer calls than minCalls (5)', repeat(4, false), 'closed'],
    ['5 failures in a row', repeat(5, false), 'open'],
    ['3 failures, 2 successes (60 %)', [false, true, false, true, false], 'open'],
    ['2 failures, 3 successes (40 %)', [false, true, false, true, true], 'closed'],
    ['10 of 20 failed (exactly 50 %)', [...repeat(10, true), ...repeat(9, false), false], 'open'],
    ['9 of 20 failed', [...repeat(11, true), ...repeat(9, false)], 'closed'],
  ] as const)('%s → %s', (_name, calls, state) => {
    expect(feed(calls).state).toBe(state);
  });

  it('remembers the last 20 calls only: an old failure slides out', () => {
    const full = feed([...repeat(4, true), false, ...repeat(6, true), ...repeat(8, false), true]);
    expect(full).toMatchObject({ state: 'closed', failures: 9 });
    expect(full.calls).toHaveLength(20);
    // The oldest call was a success: one more failure makes 10 of 20, which opens it.
    expect(feed([false], full).state).toBe('open');
    // Five successes push the fifth-oldest, a failure, out: 8 of 20, and one failure more is 9.
    const slid = feed([...repeat(5, true), false], full);
    expect(slid).toMatchObject({ state: 'closed', failures: 9 });
    expect(slid.calls).toHaveLength(20);
  });

  it('opens on p90 latency over the threshold, even when every call succeeded', () => {
    const slow = feed([...repeat(8, ok(100)), ok(5_000), ok(5_000)]);
    expect(slow.state).toBe('open');
    // One slow call in ten: the p90 is the ninth fastest, 100 ms.
    expect(feed([...repeat(9, ok(100)), ok(5_000)]).state).toBe('closed');
  });

  it('counts the failures that opened it and when', () => {
    const b = feed([true, false, false, true, false]);
    expect(b).toMatchObject({ state: 'open', failures: 3, openedAt: T0, calls: [] });
    expect(reopensAt(b, S)).toBe(T0 + 30_000);
    expect(feed([true, false]).failures).toBe(1);
  });
});

describe('circuit breaker: open → half-open → closed or open again', () => {
  const open = feed(repeat(5, false));

  it('refuses every call during the cool-down, and lets `probes` through after it', () => {
    expect(admit(open, T0 + 29_999, S).admission).toEqual({ admitted: false });
    const first = admit(open, T0 + 30_000, S);
    expect(first.admission).toEqual(PROBE);
    expect(first.breaker).toMatchObject({ state: 'half_open', probesInFlight: 1 });
    const second = admit(first.breaker, T0 + 30_001, S);
    expect(second.admission).toEqual(PROBE);
    // Two probes in flight (S.probes): the rest fail over as if it were open.
    expect(admit(second.breaker, T0 + 30_002, S).admission).toEqual({ admitted: false });
    // A probe that was never made gives its place back.
    expect(admit(releaseProbe(second.breaker), T0 + 30_003, S).admission).toEqual(PROBE);
  });

  it('closes with a clean window on the first probe that succeeds in time', () => {
    const { breaker } = admit(open, T0 + 30_000, S);
    const closed = recordCall(breaker, ok(), PROBE, T0 + 30_050, S);
    expect(closed).toEqual(CLOSED);
    expect(admit(closed, T0 + 30_051, S).admission).toEqual(ORDINARY);
  });

  it.each([
    ['a failed probe', fail()],
    ['a slow probe', ok(2_000)],
  ])('opens again for a new cool-down after %s', (_name, call) => {
    const { breaker } = admit(open, T0 + 30_000, S);
    const reopened = recordCall(breaker, call, PROBE, T0 + 30_100, S);
    expect(reopened).toMatchObject({ state: 'open', openedAt: T0 + 30_100, failures: 1 });
    expect(admit(reopened, T0 + 59_000, S).admission).toEqual({ admitted: false });
  });

  it('ignores calls admitted while closed that finish after it opened (the cool-down is not stretched)', () => {
    expect(recordCall(open, fail(), ORDINARY, T0 + 10_000, S)).toBe(open);
    const { breaker: halfOpen } = admit(open, T0 + 30_000, S);
    expect(recordCall(halfOpen, ok(), ORDINARY, T0 + 30_001, S)).toBe(halfOpen);
  });

  it('ignores a probe of an earlier half-open spell', () => {
    const { breaker } = admit(open, T0 + 30_000, S);
    const reopened = recordCall(breaker, fail(), PROBE, T0 + 30_100, S);
    // The second probe of that spell comes back successful after the circuit reopened.
    expect(recordCall(reopened, ok(), PROBE, T0 + 30_200, S)).toBe(reopened);
  });
});

describe('p90', () => {
  it.each([
    [[], 0],
    [[5], 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 9],
    [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 100], 10],
  ])('%j → %i', (latencies, expected) => {
    expect(p90(latencies.map((latencyMs) => ({ ok: true, latencyMs })))).toBe(expected);
  });
});

describe('p90Exceeds', () => {
  it('says what comparing p90 with the limit says, for every window size and share of slow calls', () => {
    const limit = 100;
    for (let n = 1; n <= 20; n++) {
      for (let slow = 0; slow <= n; slow++) {
        const calls = [...repeat(n - slow, ok(limit)), ...repeat(slow, ok(limit + 1))];
        expect(p90Exceeds(n, slow), `${slow} of ${n} slow`).toBe(p90(calls) > limit);
      }
    }
  });
});
