import { describe, expect, it } from 'vitest';
import { failoverOrder } from '../../../src/pipeline/failover.ts';
import { FRESH_BUDGET, type RetryBudget, spend } from '../../../src/providers/retry-budget.ts';

const S = { windowMs: 10_000, ratio: 0.2, floor: 10 };
const T0 = 1_700_000_000_000;

/** Spends `firsts` first tries and then as many retries as allowed, at `now`; answers the retries let through. */
function run(budget: RetryBudget, firsts: number, retries: number, now: number) {
  let b = budget;
  for (let i = 0; i < firsts; i++) b = spend(b, false, now, S).budget;
  let allowed = 0;
  for (let i = 0; i < retries; i++) {
    const r = spend(b, true, now, S);
    b = r.budget;
    if (r.allowed) allowed++;
  }
  return { budget: b, allowed };
}

describe('retry budget', () => {
  it.each([
    ['a quiet integration: the floor of 10', 0, 50, 10],
    ['100 first tries: 10 + 20 % of them', 100, 100, 30],
    ['1000 first tries: 10 + 200', 1000, 1000, 210],
    ['fewer retries than the budget: all go', 100, 5, 5],
  ])('%s', (_name, firsts, retries, allowed) => {
    expect(run(FRESH_BUDGET, firsts, retries, T0).allowed).toBe(allowed);
  });

  it('first tries always go, even with the retry budget spent', () => {
    const { budget } = run(FRESH_BUDGET, 0, 20, T0);
    expect(spend(budget, false, T0, S).allowed).toBe(true);
  });

  it('refills as the window moves on: sends older than 10 s no longer count', () => {
    const spent = run(FRESH_BUDGET, 0, 20, T0).budget;
    expect(spend(spent, true, T0 + 9_999, S).allowed).toBe(false);
    expect(run(spent, 0, 20, T0 + 10_000).allowed).toBe(10);
  });

  it('keeps one bucket per second, only those inside the window', () => {
    let b = FRESH_BUDGET;
    for (let s = 0; s < 30; s++) b = spend(b, false, T0 + s * 1000, S).budget;
    expect(b.seconds.length).toBe(10);
  });
});

describe('failover order', () => {
  const ids = (list: { integrationId: string }[]) => list.map((c) => c.integrationId);
  const candidates = [{ integrationId: 'a' }, { integrationId: 'b' }, { integrationId: 'c' }];

  it.each([
    [null, ['a', 'b', 'c']],
    ['a', ['b', 'c', 'a']],
    ['b', ['a', 'c', 'b']],
    ['gone', ['a', 'b', 'c']],
  ])('last retryable answer from %s → %j', (lastTried, order) => {
    expect(ids(failoverOrder(candidates, lastTried))).toEqual(order);
  });

  it('keeps a single integration', () => {
    expect(ids(failoverOrder([{ integrationId: 'a' }], 'a'))).toEqual(['a']);
  });
});
