import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { ProviderConfigError } from '../port.ts';

/**
 * APNs refuses a provider token older than an hour (ExpiredProviderToken) and one renewed more
 * often than every 20 minutes (TooManyProviderTokenUpdates). Renewing at 40 minutes stays clear of
 * both, with 20 minutes of slack for clock skew between us and Apple.
 */
export const TOKEN_RENEW_AFTER_MS = 40 * 60_000;

/**
 * Pure: whether a token issued at `issuedAtMs` must be replaced at `nowMs`. A clock that jumped
 * back by more than a minute also renews: APNs would read the old `iat` as issued in the future.
 */
export function tokenIsStale(
  issuedAtMs: number,
  nowMs: number,
  renewAfterMs = TOKEN_RENEW_AFTER_MS,
): boolean {
  return nowMs - issuedAtMs >= renewAfterMs || issuedAtMs - nowMs > 60_000;
}

/** Signs one provider token for the given `iat` (seconds since the epoch). */
export type TokenSigner = (issuedAtSeconds: number) => Promise<string>;

/**
 * The provider token in use, shared by every send of one integration: signed once, reused until
 * stale, renewed once however many sends ask at the same moment.
 */
export class ProviderTokenCache {
  private current: { token: string; issuedAtMs: number } | null = null;
  private signing: Promise<string> | null = null;

  constructor(
    private readonly sign: TokenSigner,
    private readonly clock: () => number = Date.now,
    private readonly renewAfterMs = TOKEN_RENEW_AFTER_MS,
  ) {}

  async get(): Promise<string> {
    const now = this.clock();
    if (this.current && !tokenIsStale(this.current.issuedAtMs, now, this.renewAfterMs)) {
      return this.current.token;
    }
    this.signing ??= this.renew(now).finally(() => {
      this.signing = null;
    });
    return this.signing;
  }

  /**
   * APNs answered ExpiredProviderToken to `token`: the next `get` signs a new one. Only the token
   * in use is dropped, so a burst of sends that all carried it renews once, not once per send
   * (which APNs would punish with TooManyProviderTokenUpdates).
   */
  expire(token: string): void {
    if (this.current?.token === token) this.current = null;
  }

  private async renew(now: number): Promise<string> {
    // iat is whole seconds: the token says when it was issued, not when it will be stale.
    const issuedAtMs = Math.floor(now / 1000) * 1000;
    const token = await this.sign(issuedAtMs / 1000);
    this.current = { token, issuedAtMs };
    return token;
  }
}

/** ES256 signer for APNs: header `{alg: ES256, kid}`, claims `{iss: teamId, iat}` and nothing else. */
export function apnsTokenSigner(key: KeyObject, keyId: string, teamId: string): TokenSigner {
  return (issuedAtSeconds) =>
    new SignJWT({ iss: teamId, iat: issuedAtSeconds })
      .setProtectedHeader({ alg: 'ES256', kid: keyId })
      .sign(key);
}

/**
 * The .p8 key Apple hands out: a PKCS#8 PEM of a P-256 private key. Parsed when the client is
 * built (at `PUT`), so a wrong key is a 422 naming `credentials.privateKey`, not a failed send.
 */
export function parseApnsKey(pem: unknown): KeyObject {
  const field = 'credentials.privateKey';
  if (typeof pem !== 'string' || pem.trim() === '') throw new ProviderConfigError(field, 'is required');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new ProviderConfigError(field, 'must be the .p8 file Apple issued (a PEM private key)');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ProviderConfigError(
      field,
      `must be a P-256 (ES256) key, as in the .p8 file Apple issued; this is ${describeKey(key)}`,
    );
  }
  return key;
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve ? `an ${key.asymmetricKeyType} key on ${curve}` : `an ${key.asymmetricKeyType} key`;
}
