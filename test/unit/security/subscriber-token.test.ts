import { describe, expect, it } from 'vitest';
import { tokenLifetimeSeconds } from '../../../src/security/subscriber-token.ts';

describe('tokenLifetimeSeconds', () => {
  it.each([
    ['1s', 1],
    ['90s', 90],
    ['15m', 900],
    ['1h', 3600],
    ['7d', 604_800],
    [1, 1],
    [604_800, 604_800],
  ])('%j lasts %i s', (input, seconds) => {
    expect(tokenLifetimeSeconds(input)).toBe(seconds);
  });

  it.each(['0s', '8d', '604801s', '500ms', '1500ms', '1.5h', 'forever', '', 0, -5, 1.5, 604_801])(
    '%j is refused',
    (input) => {
      expect(tokenLifetimeSeconds(input)).toBeNull();
    },
  );
});
