import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  signUnsubscribeToken,
  unsubscribeUrl,
  verifyUnsubscribeToken,
} from '../../../src/security/unsubscribe-token.ts';

const key = randomBytes(32);

describe('unsubscribe tokens', () => {
  it('round-trips category and workflow scopes', () => {
    for (const scope of [{ category: 'marketing' }, { workflow: 'weekly' }]) {
      const claims = { tenantId: 'ten_1', subscriberId: 'ann', scope };
      expect(verifyUnsubscribeToken(key, signUnsubscribeToken(key, claims))).toEqual(claims);
    }
  });

  it("carries the subscriber's creation time when given; a link made without it has none", () => {
    const claims = { tenantId: 'ten_1', subscriberId: 'ann', scope: { category: 'news' } };
    const born = { ...claims, subscriberCreatedAt: 1_796_000_000_123 };
    expect(verifyUnsubscribeToken(key, signUnsubscribeToken(key, born))).toEqual(born);
    expect(verifyUnsubscribeToken(key, signUnsubscribeToken(key, claims))).not.toHaveProperty(
      'subscriberCreatedAt',
    );
  });

  it('refuses another key, an altered body, a cut token and garbage', () => {
    const token = signUnsubscribeToken(key, { tenantId: 't', subscriberId: 's', scope: { category: 'c' } });
    const [body, mac] = token.split('.') as [string, string];
    const other = Buffer.from(JSON.stringify({ t: 't', s: 'someone-else', c: 'c' })).toString('base64url');
    expect(verifyUnsubscribeToken(randomBytes(32), token)).toBeNull();
    expect(verifyUnsubscribeToken(key, `${other}.${mac}`)).toBeNull();
    expect(verifyUnsubscribeToken(key, `${body}.${mac.slice(0, -1)}`)).toBeNull();
    expect(verifyUnsubscribeToken(key, body)).toBeNull();
    expect(verifyUnsubscribeToken(key, `${token}.x`)).toBeNull();
    expect(verifyUnsubscribeToken(key, 'x'.repeat(5000))).toBeNull();
  });

  it('keeps a path in the public URL', () => {
    expect(unsubscribeUrl('https://n.example/base', 'tok')).toBe('https://n.example/base/v1/unsubscribe/tok');
  });
});
