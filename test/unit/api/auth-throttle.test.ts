import { describe, expect, it } from 'vitest';
import { AuthThrottle } from '../../../src/api/auth-throttle.ts';

describe('AuthThrottle', () => {
  it('allows `limit` failures per window, then answers the seconds until the window ends', () => {
    const throttle = new AuthThrottle({ limit: 3, windowMs: 60_000, maxAddresses: 10 });
    for (let i = 0; i < 3; i++) expect(throttle.fail('1.2.3.4', 1_000 + i)).toBeNull();
    expect(throttle.fail('1.2.3.4', 1_000)).toBe(60);
    expect(throttle.fail('1.2.3.4', 31_000)).toBe(30);
    expect(throttle.fail('1.2.3.4', 60_999)).toBe(1);
    // Another address has its own allowance; a new window starts afresh.
    expect(throttle.fail('5.6.7.8', 2_000)).toBeNull();
    expect(throttle.fail('1.2.3.4', 61_000)).toBeNull();
  });

  it('remembers at most maxAddresses, forgetting the least recently failing first', () => {
    const throttle = new AuthThrottle({ limit: 1, windowMs: 60_000, maxAddresses: 2 });
    throttle.fail('a', 0);
    throttle.fail('b', 0);
    throttle.fail('a', 1); // a is now the most recent (and over its limit)
    throttle.fail('c', 2); // evicts b
    expect(throttle.size).toBe(2);
    expect(throttle.fail('a', 3)).not.toBeNull();
    expect(throttle.fail('b', 3)).toBeNull();
  });
});
