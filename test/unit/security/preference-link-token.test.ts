import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { templateLinks } from '../../../src/pipeline/links.ts';
import {
  preferencePageUrl,
  signPreferenceLinkToken,
  verifyPreferenceLinkToken,
} from '../../../src/security/preference-link-token.ts';

const key = randomBytes(32);
const claims = { tenantId: 'acme', subscriberId: 'ada', expiresAt: 1_900_000_000_000 };

describe('preference link tokens', () => {
  it('verify with the key that signed them, and nothing altered', () => {
    const token = signPreferenceLinkToken(key, claims);
    expect(token).toMatch(/^[\w-]+\.[\w-]+$/);
    expect(verifyPreferenceLinkToken(key, token)).toEqual(claims);
    expect(verifyPreferenceLinkToken(randomBytes(32), token)).toBeNull();
    const [body, mac] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ t: 'acme', s: 'eve', e: 1_900_000_000 })).toString(
      'base64url',
    );
    expect(verifyPreferenceLinkToken(key, `${forged}.${mac}`)).toBeNull();
    expect(verifyPreferenceLinkToken(key, `${body}.${mac}x`)).toBeNull();
    expect(verifyPreferenceLinkToken(key, `${body}`)).toBeNull();
    expect(verifyPreferenceLinkToken(key, `${token}.x`)).toBeNull();
    expect(verifyPreferenceLinkToken(key, 'x'.repeat(3000))).toBeNull();
  });

  it('make links under the public URL, its path kept', () => {
    expect(preferencePageUrl('https://n.example/t/', 'abc.def')).toBe(
      'https://n.example/t/v1/preferences-page?token=abc.def',
    );
  });

  it('are signed for templates only when read; mandatory categories have no unsubscribe link', () => {
    const links = {
      publicUrl: 'https://n.example',
      unsubscribeKey: randomBytes(32),
      preferencesKey: key,
      trackingKey: randomBytes(32),
    };
    const now = 1_700_000_000_000;
    const marketing = templateLinks(
      links,
      { tenantId: 'acme', subscriberId: 'ada', workflow: 'news', category: 'marketing' },
      now,
    ) as Record<string, string>;
    expect(marketing.unsubscribe).toMatch(/^https:\/\/n\.example\/v1\/unsubscribe\//);
    const preferences = marketing.preferences!;
    const token = new URL(preferences).searchParams.get('token')!;
    expect(verifyPreferenceLinkToken(key, token)).toEqual({
      tenantId: 'acme',
      subscriberId: 'ada',
      expiresAt: now + 90 * 86_400_000,
    });
    const security = templateLinks(
      links,
      { tenantId: 'acme', subscriberId: 'ada', workflow: 'reset', category: 'security' },
      now,
    ) as Record<string, string>;
    expect(security.unsubscribe).toBe('');
    expect(security.preferences).toMatch(/preferences-page\?token=/);
    expect(
      templateLinks(undefined, { tenantId: 'a', subscriberId: 's', workflow: 'w', category: undefined }, now),
    ).toEqual({});
  });
});
