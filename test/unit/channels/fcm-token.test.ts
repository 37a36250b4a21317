import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseServiceAccount } from '../../../src/channels/push/fcm-credentials.ts';
import {
  type AccessToken,
  AccessTokenCache,
  FCM_SCOPE,
  signAssertion,
} from '../../../src/channels/push/fcm-token.ts';

const HOUR = 3_600_000;

/** An exchange the test resolves by hand, counting calls. */
function manualExchange() {
  const calls: { resolve(token: AccessToken): void; reject(error: Error): void }[] = [];
  return {
    calls,
    exchange: () =>
      new Promise<AccessToken>((resolve, reject) => {
        calls.push({ resolve, reject });
      }),
  };
}

describe('AccessTokenCache', () => {
  it('makes one exchange for 50 concurrent callers and gives them all its token', async () => {
    let now = 1_000_000;
    const { calls, exchange } = manualExchange();
    const cache = new AccessTokenCache(exchange, () => now);
    const waiting = Array.from({ length: 50 }, () => cache.get());
    expect(calls).toHaveLength(1);
    calls[0]!.resolve({ token: 'ya29.one', expiresAt: now + HOUR });
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(['ya29.one']));
    now += 10 * 60_000;
    expect(await cache.get()).toBe('ya29.one');
    expect(calls).toHaveLength(1);
  });

  it('renews five minutes before expiry, not before, and not at every call afterwards', async () => {
    let now = 0;
    let n = 0;
    let exchanges = 0;
    const cache = new AccessTokenCache(
      async () => {
        exchanges++;
        return { token: `t${++n}`, expiresAt: now + HOUR };
      },
      () => now,
    );
    expect(await cache.get()).toBe('t1');
    now = HOUR - 5 * 60_000 - 1;
    expect(await cache.get()).toBe('t1');
    now = HOUR - 5 * 60_000;
    expect(await cache.get()).toBe('t2');
    now += 1000;
    expect(await cache.get()).toBe('t2');
    expect(exchanges).toBe(2);
  });

  it('renews a short-lived token halfway through its life instead of at every call', async () => {
    let now = 0;
    let n = 0;
    const cache = new AccessTokenCache(
      async () => ({ token: `t${++n}`, expiresAt: now + 60_000 }),
      () => now,
    );
    expect(await cache.get()).toBe('t1');
    now = 29_999;
    expect(await cache.get()).toBe('t1');
    now = 30_000;
    expect(await cache.get()).toBe('t2');
  });

  it('does not cache a failed exchange: every waiter sees the failure, the next call tries again', async () => {
    const { calls, exchange } = manualExchange();
    const cache = new AccessTokenCache(exchange, () => 0);
    const first = cache.get();
    const second = cache.get();
    calls[0]!.reject(new Error('token endpoint down'));
    await expect(first).rejects.toThrow('token endpoint down');
    await expect(second).rejects.toThrow('token endpoint down');
    const third = cache.get();
    expect(calls).toHaveLength(2);
    calls[1]!.resolve({ token: 'ya29.two', expiresAt: HOUR });
    expect(await third).toBe('ya29.two');
  });

  it('invalidates only the token that was refused, so concurrent 401s cause one renewal', async () => {
    let n = 0;
    let exchanges = 0;
    const cache = new AccessTokenCache(
      async () => {
        exchanges++;
        return { token: `t${++n}`, expiresAt: HOUR };
      },
      () => 0,
    );
    const stale = await cache.get();
    cache.invalidate(stale);
    const fresh = await cache.get();
    expect(fresh).toBe('t2');
    // A second send that was refused the same stale token must not throw the fresh one away.
    cache.invalidate(stale);
    expect(await cache.get()).toBe('t2');
    expect(exchanges).toBe(2);
  });
});

describe('signAssertion', () => {
  it('signs an RS256 JWT for the service account with the FCM scope, valid for one hour', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const account = parseServiceAccount({
      type: 'service_account',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: 'sender@proj.iam.gserviceaccount.com',
      token_uri: 'https://oauth2.googleapis.com/token',
    });
    const now = Date.UTC(2030, 0, 1);
    const jwt = await signAssertion(account, now);
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(decodeJwt(jwt)).toEqual({
      iss: 'sender@proj.iam.gserviceaccount.com',
      sub: 'sender@proj.iam.gserviceaccount.com',
      aud: 'https://oauth2.googleapis.com/token',
      scope: FCM_SCOPE,
      iat: now / 1000,
      exp: now / 1000 + 3600,
    });
    await expect(
      jwtVerify(jwt, publicKey, { currentDate: new Date(now + 1000), algorithms: ['RS256'] }),
    ).resolves.toBeDefined();
  });
});
