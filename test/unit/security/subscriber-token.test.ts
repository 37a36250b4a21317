import { describe, expect, it } from 'vitest';
import {
  mintSubscriberToken,
  tokenLifetimeSeconds,
  verifySubscriberToken,
} from '../../../src/security/subscriber-token.ts';
import { withUnusedBitsSet } from '../../helpers/base64url.ts';

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

describe('subscriber tokens name their subscriber', () => {
  const key = new Uint8Array(32).fill(7);

  it('carry the subscriber creation time when minted with one, and their issue time', async () => {
    const claims = { tenantId: 't', subscriberId: 'ada', subscriberCreatedAt: 1_700_000_000_123 };
    const { token } = await mintSubscriberToken(key, claims, 60, 1_800_000_000_500);
    const verified = await verifySubscriberToken(key, token);
    expect(verified).toMatchObject({ ...claims, issuedAt: 1_800_000_000_000 });
  });

  it('live at least the lifetime asked for, wherever in its second the mint fell', async () => {
    const claims = { tenantId: 't', subscriberId: 'ada' };
    for (const nowMs of [1_800_000_000_000, 1_800_000_000_001, 1_800_000_000_741, 1_800_000_000_999]) {
      const { expiresAt } = await mintSubscriberToken(key, claims, 1, nowMs);
      expect(expiresAt - nowMs).toBeGreaterThanOrEqual(1000);
      expect(expiresAt - nowMs).toBeLessThanOrEqual(2000);
    }
    // Minted now for one second, it is good now (from the start of the second it failed 1 time in 4).
    const { token } = await mintSubscriberToken(key, claims, 1);
    expect(await verifySubscriberToken(key, token)).not.toBeNull();
  });

  it('leave it out for a token minted without one', async () => {
    const { token } = await mintSubscriberToken(key, { tenantId: 't', subscriberId: 'ada' }, 60);
    expect((await verifySubscriberToken(key, token))?.subscriberCreatedAt).toBeUndefined();
  });

  it('refuse any spelling of a token but the one minted: padding, whitespace, the unused bits of the last character', async () => {
    const { token } = await mintSubscriberToken(key, { tenantId: 't', subscriberId: 'ada' }, 60);
    expect(await verifySubscriberToken(key, token)).not.toBeNull();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const spellings = [
      `${token}=`,
      `${token}==`,
      `${token} `,
      `${token}\n`,
      `${header}.${payload}.${withUnusedBitsSet(signature)}`,
    ];
    for (const spelling of spellings) expect(await verifySubscriberToken(key, spelling), spelling).toBeNull();
  });
});
