import { describe, expect, it } from 'vitest';
import {
  signPreferenceLinkToken,
  verifyPreferenceLinkToken,
} from '../../../src/security/preference-link-token.ts';
import { openLink, signLink } from '../../../src/security/signed-link.ts';
import {
  openPixelUrl,
  signClickToken,
  signOpenToken,
  trackedClickUrl,
  verifyClickToken,
  verifyOpenToken,
} from '../../../src/security/tracking-token.ts';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '../../../src/security/unsubscribe-token.ts';
import { withUnusedBitsSet } from '../../helpers/base64url.ts';

const key = Buffer.alloc(32, 7);

describe('signed links', () => {
  it('keep the bytes of the links already in people’s mailboxes (signed before the helper was shared)', () => {
    // Made by the unsubscribe and preference token modules as they were before src/security/signed-link.ts.
    const category = 'eyJ0IjoidGVuXzEiLCJzIjoiYW5uIiwiYyI6Im1hcmtldGluZyJ9.B2LRjqogPILPLLviN7GPzw';
    const workflow = 'eyJ0IjoidGVuXzEiLCJzIjoiYW5uIiwidyI6ImRpZ2VzdCJ9.x7fxOMO3qtym4bYO4aIdqA';
    const preferences =
      'eyJ0IjoidGVuXzEiLCJzIjoiYW5uIiwiZSI6MTgwMDAwMDAwMCwiYyI6MTcwMDAwMDAwMDEyM30.j1A2Qvn_3a958icPlq3iYg';
    expect(
      signUnsubscribeToken(key, { tenantId: 'ten_1', subscriberId: 'ann', scope: { category: 'marketing' } }),
    ).toBe(category);
    expect(
      signUnsubscribeToken(key, { tenantId: 'ten_1', subscriberId: 'ann', scope: { workflow: 'digest' } }),
    ).toBe(workflow);
    const claims = {
      tenantId: 'ten_1',
      subscriberId: 'ann',
      expiresAt: 1_800_000_000_000,
      subscriberCreatedAt: 1_700_000_000_123,
    };
    expect(signPreferenceLinkToken(key, claims)).toBe(preferences);
    expect(verifyUnsubscribeToken(key, category)?.scope).toEqual({ category: 'marketing' });
    expect(verifyPreferenceLinkToken(key, preferences)).toEqual(claims);
  });

  it('open only for the purpose and key they were signed for, and refuse anything cut, altered or oversized', () => {
    const token = signLink(key, 'a', { x: 1 });
    expect(openLink(key, 'a', token)).toEqual({ x: 1 });
    expect(openLink(key, 'b', token)).toBeNull();
    expect(openLink(Buffer.alloc(32, 8), 'a', token)).toBeNull();
    expect(openLink(key, 'a', token.slice(0, -1))).toBeNull();
    expect(openLink(key, 'a', `${token}.x`)).toBeNull();
    expect(openLink(key, 'a', `x${token}`)).toBeNull();
    expect(openLink(key, 'a', 'x'.repeat(3000))).toBeNull();
    // One spelling only: the MAC's bytes written any other way are refused.
    const [body, signature] = token.split('.') as [string, string];
    for (const spelling of [
      `${token}=`,
      `${token}==`,
      `${token} `,
      `${token}!`,
      `${body}.${signature.slice(0, 10)}\n${signature.slice(10)}`,
      `${body}.${withUnusedBitsSet(signature)}`,
    ])
      expect(openLink(key, 'a', spelling), spelling).toBeNull();
    // Signed, but not an object: no fields.
    expect(openLink(key, 'a', signLink(key, 'a', [1] as unknown as Record<string, unknown>))).toBeNull();
  });
});

describe('tracking tokens', () => {
  const claims = { tenantId: 'ten_1', messageId: 'msg_1' };

  it('an open token names its message; a click token only for the very URL it was signed with', () => {
    const open = signOpenToken(key, claims);
    expect(verifyOpenToken(key, open)).toEqual(claims);
    const target = 'https://shop.example/a?b=1';
    const click = signClickToken(key, claims, target);
    expect(verifyClickToken(key, click, target)).toEqual(claims);
    expect(verifyClickToken(key, click, 'https://shop.example/a?b=2')).toBeNull();
    // One kind never passes for the other.
    expect(verifyOpenToken(key, click)).toBeNull();
    expect(verifyClickToken(key, open, target)).toBeNull();
    // Nor for an unsubscribe token, signed under another key in production but checked here under one.
    expect(
      verifyOpenToken(
        key,
        signUnsubscribeToken(key, { tenantId: 't', subscriberId: 's', scope: { category: 'c' } }),
      ),
    ).toBeNull();
  });

  it('make URLs under the public URL, its path kept, with the target as ?u=', () => {
    expect(openPixelUrl('https://n.example/t/', 'a.b')).toBe('https://n.example/t/v1/t/o/a.b');
    const url = new URL(trackedClickUrl('https://n.example/t', 'a.b', 'https://x.example/?q=1&r=2#f'));
    expect(url.pathname).toBe('/t/v1/t/c/a.b');
    expect(url.searchParams.get('u')).toBe('https://x.example/?q=1&r=2#f');
    expect(url.hash).toBe('');
  });
});
