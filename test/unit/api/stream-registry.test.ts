import { describe, expect, it } from 'vitest';
import { StreamRegistry } from '../../../src/api/routes/stream-registry.ts';

describe('StreamRegistry', () => {
  it('closes the oldest of an owner once it holds more than allowed, leaving other owners alone', () => {
    const closed: string[] = [];
    const registry = new StreamRegistry<string>(2, (s) => closed.push(s));
    const releaseA1 = registry.add('ada', 'a1');
    registry.add('ada', 'a2');
    registry.add('bob', 'b1');
    registry.add('ada', 'a3');
    expect(closed).toEqual(['a1']);
    releaseA1(); // the closed stream's own close event: nothing more happens
    expect(registry.count('ada')).toBe(2);
    expect(registry.count('bob')).toBe(1);
    registry.closeAll();
    expect(closed.sort()).toEqual(['a1', 'a2', 'a3', 'b1']);
  });

  it('forgets an owner whose streams all closed', () => {
    const registry = new StreamRegistry<string>(20, () => undefined);
    const release = registry.add('ada', 'a1');
    release();
    expect(registry.count('ada')).toBe(0);
  });
});
