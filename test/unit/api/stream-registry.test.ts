import { describe, expect, it } from 'vitest';
import { connectionLimits, openFilesLimit } from '../../../src/api/connection-limits.ts';
import { StreamRegistry } from '../../../src/api/routes/stream-registry.ts';

describe('StreamRegistry', () => {
  it('closes the oldest of an owner once it holds more than allowed, leaving other owners alone', () => {
    const closed: string[] = [];
    const registry = new StreamRegistry<string>(2, (s) => closed.push(s));
    const releaseA1 = registry.add('t', 'ada', 'a1');
    registry.add('t', 'ada', 'a2');
    registry.add('t', 'bob', 'b1');
    registry.add('t', 'ada', 'a3');
    expect(closed).toEqual(['a1']);
    releaseA1(); // the closed stream's own close event: nothing more happens
    expect(registry.count('ada')).toBe(2);
    expect(registry.count('bob')).toBe(1);
    registry.closeAll();
    expect(closed.sort()).toEqual(['a1', 'a2', 'a3', 'b1']);
  });

  it('forgets an owner whose streams all closed', () => {
    const registry = new StreamRegistry<string>(20, () => undefined);
    const release = registry.add('t', 'ada', 'a1');
    release();
    expect(registry.count('ada')).toBe(0);
  });

  it('shares the total: anyone while under three quarters, then only tenants under a quarter; none when full', () => {
    const registry = new StreamRegistry<string>(1, () => undefined, 8);
    const releases: (() => void)[] = [];
    for (let n = 0; n < 6; n++) {
      expect(registry.admits('a', `a${n}`)).toBe('open');
      releases.push(registry.add('a', `a${n}`, `s${n}`));
    }
    // 6 of 8 open, all tenant a's: a is past its quarter, b is not.
    expect(registry.admits('a', 'a9')).toBe('tenant_busy');
    // A stream replacing one of the owner's own takes no more room.
    registry.add('a', 'a0', 'extra');
    expect(registry.admits('a', 'a0')).toBe('open');
    expect(registry.admits('b', 'b0')).toBe('open');
    registry.add('b', 'b0', 'b0');
    registry.add('b', 'b1', 'b1');
    expect(registry.admits('b', 'b2')).toBe('full');
    // One of a's closes: 7 of 8, b holds its quarter (2), c holds none.
    releases[1]!();
    expect(registry.admits('b', 'b2')).toBe('tenant_busy');
    expect(registry.admits('c', 'c0')).toBe('open');
  });
});

describe('StreamRegistry with a total of one to three', () => {
  it('opens at least one stream, and for a lone tenant three quarters of the total, rounded down', () => {
    for (const [total, lone] of [
      [1, 1],
      [2, 1],
      [3, 2],
    ] as const) {
      const registry = new StreamRegistry<string>(20, () => undefined, total);
      let opened = 0;
      while (registry.admits('t', `s${opened}`) === 'open' && opened < 10)
        registry.add('t', `s${opened}`, `${opened++}`);
      expect([total, opened]).toEqual([total, lone]);
    }
  });
});

describe('connection limits', () => {
  it('reads the soft open-files limit, and assumes 1,024 when it cannot', () => {
    const limits = [
      'Limit                     Soft Limit           Hard Limit           Units',
      'Max open files            20000                524288               files',
    ].join('\n');
    expect(openFilesLimit(() => limits)).toBe(20_000);
    expect(openFilesLimit(() => limits.replace('20000', 'unlimited'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(
      openFilesLimit(() => {
        throw new Error('no /proc');
      }),
    ).toBe(1024);
    expect(openFilesLimit(() => 'Max open files   x')).toBe(1024);
    expect(openFilesLimit()).toBeGreaterThan(0);
  });

  it('keeps a fifth of the descriptors from clients and half from streams, or TIDINGS_MAX_STREAMS within the rest', () => {
    expect(connectionLimits(1024, null)).toEqual({ connections: 819, streams: 512 });
    expect(connectionLimits(20_000, 100)).toEqual({ connections: 16_000, streams: 100 });
    expect(connectionLimits(1024, 5000)).toEqual({ connections: 819, streams: 803 });
  });
});
