import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ProviderConfigError } from '../../../src/channels/port.ts';
import {
  apnsTokenSigner,
  ProviderTokenCache,
  parseApnsKey,
  TOKEN_RENEW_AFTER_MS,
  tokenIsStale,
} from '../../../src/channels/push/apns-token.ts';

const MIN = 60_000;
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

describe('tokenIsStale', () => {
  it.each([
    ['just issued', 0, false],
    ['19 minutes old', 19 * MIN, false],
    ['39 minutes 59 seconds old', 40 * MIN - 1000, false],
    ['40 minutes old', 40 * MIN, true],
    ['an hour old', 60 * MIN, true],
    ['issued 30 s in the future (small clock step back)', -30_000, false],
    ['issued 2 min in the future (clock jumped back)', -2 * MIN, true],
  ])('%s → %s', (_name, age, stale) => {
    expect(tokenIsStale(T0, T0 + age)).toBe(stale);
  });

  it('renews inside the window APNs allows (20 to 60 minutes)', () => {
    expect(TOKEN_RENEW_AFTER_MS).toBeGreaterThanOrEqual(20 * MIN);
    expect(TOKEN_RENEW_AFTER_MS).toBeLessThan(60 * MIN);
  });
});

/** A cache over a signer that writes `token-<n>@<iat>` and counts its calls. */
function cacheAt(start: number) {
  let now = start;
  const signed: number[] = [];
  const cache = new ProviderTokenCache(
    async (iat) => {
      signed.push(iat);
      return `token-${signed.length}@${iat}`;
    },
    () => now,
  );
  return {
    cache,
    signed,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('ProviderTokenCache', () => {
  it('reuses a token until it is 40 minutes old, then signs one with the new iat', async () => {
    const { cache, signed, advance } = cacheAt(T0 + 400);
    expect(await cache.get()).toBe(`token-1@${T0 / 1000}`);
    advance(39 * MIN);
    expect(await cache.get()).toBe(`token-1@${T0 / 1000}`);
    advance(MIN);
    expect(await cache.get()).toBe(`token-2@${T0 / 1000 + 40 * 60}`);
    expect(signed).toHaveLength(2);
  });

  it('signs once for many concurrent callers', async () => {
    const { cache, signed } = cacheAt(T0);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => cache.get()));
    expect(new Set(tokens).size).toBe(1);
    expect(signed).toHaveLength(1);
  });

  it('renews after expire(token in use), once however many sends report it', async () => {
    const { cache, signed } = cacheAt(T0);
    const first = await cache.get();
    cache.expire(first);
    const second = await cache.get();
    expect(second).not.toBe(first);
    // Late reports about the old token do not throw away the new one.
    cache.expire(first);
    cache.expire(first);
    expect(await cache.get()).toBe(second);
    expect(signed).toHaveLength(2);
  });
});

describe('apnsTokenSigner', () => {
  it('signs ES256 with kid in the header and only iss and iat as claims', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwt = await apnsTokenSigner(privateKey, 'KEY1234567', 'TEAM123456')(1_900_000_000);
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'ES256', kid: 'KEY1234567' });
    expect(decodeJwt(jwt)).toEqual({ iss: 'TEAM123456', iat: 1_900_000_000 });
    await expect(jwtVerify(jwt, publicKey, { algorithms: ['ES256'] })).resolves.toBeTruthy();
  });
});

describe('parseApnsKey', () => {
  const pem = (type: 'ec' | 'rsa' | 'ed25519', curve?: string) => {
    const pair =
      type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: curve ?? 'prime256v1' })
        : type === 'rsa'
          ? generateKeyPairSync('rsa', { modulusLength: 2048 })
          : generateKeyPairSync('ed25519');
    return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  };

  it('accepts a P-256 PKCS#8 PEM, as Apple issues in .p8 files', () => {
    expect(parseApnsKey(pem('ec')).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it.each([
    ['missing', undefined, /is required/],
    ['empty', '  ', /is required/],
    ['not PEM', 'MIGTAgEAMBMGByqGSM49', /\.p8 file/],
    ['an RSA key', pem('rsa'), /P-256 \(ES256\) key.*rsa/],
    ['an Ed25519 key', pem('ed25519'), /P-256 \(ES256\) key.*ed25519/],
    ['a P-384 key', pem('ec', 'secp384r1'), /P-256 \(ES256\) key.*secp384r1/],
  ])('refuses %s, naming credentials.privateKey', (_name, value, message) => {
    let error: unknown;
    try {
      parseApnsKey(value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ProviderConfigError);
    expect((error as ProviderConfigError).path).toBe('credentials.privateKey');
    expect((error as ProviderConfigError).message).toMatch(message);
  });
});
