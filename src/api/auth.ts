import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { hashApiKey } from '../security/secrets.ts';
import { type VerifiedSubscriberToken, verifySubscriberToken } from '../security/subscriber-token.ts';
import type { SubscriberStore, TenantStore } from '../store/port.ts';
import { AuthThrottle } from './auth-throttle.ts';
import type { AuthMode } from './context.ts';
import { ApiError } from './errors.ts';

/**
 * How long a key lookup is trusted. A key revoked in this process stops working at once (the
 * cache is cleared), as does one whose revocation the store announces (PostgreSQL:
 * key-revocations.ts); otherwise (the CLI on a SQLite file) it stops within this long.
 */
export const KEY_CACHE_TTL_MS = 10_000;
const KEY_CACHE_MAX = 10_000;

export interface AuthOptions {
  store: Pick<TenantStore, 'tenantForKeyHash'> & Pick<SubscriberStore, 'getSubscriber'>;
  tokenKey: Uint8Array;
  /** TIDINGS_OPERATOR_KEY; null turns the operator routes off (they answer 404). */
  operatorKey: string | null;
  throttle?: AuthThrottle;
  now?: () => number;
}

export interface Authenticator {
  /** Sets `request.tenantId` (and the subscriber fields) or throws 401 / 404 / 429. */
  authenticate(request: FastifyRequest, mode: AuthMode, queryToken: boolean): Promise<void>;
  /** Drops cached key lookups: a key revoked in this process stops working at once. */
  forgetKeys(): void;
  /**
   * A credential checked elsewhere (a provider callback's signature) was refused: counts toward
   * the same per-address throttle, and answers `refusal` or, past the allowance, the 429.
   */
  refused(request: FastifyRequest, refusal: ApiError): ApiError;
}

function headerCredential(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  // A key may hold spaces (TIDINGS_API_KEY allows them), never at either end.
  const match = /^Bearer\s+(\S(?:.*\S)?)\s*$/i.exec(header);
  return match ? match[1]! : '';
}

/** What a route of each mode takes, as a missing credential's message names it. */
const CREDENTIAL_NAMES: Record<Exclude<AuthMode, 'none'>, string> = {
  server: 'key',
  subscriber: 'subscriber token',
  'server-or-subscriber': 'key or subscriber token',
  operator: 'operator key',
};

/** Subscriber tokens are JWTs, three dot-separated parts; a server key never is. */
const shapedLikeSubscriberToken = (credential: string) => credential.split('.').length === 3;

/** Whether the request's `Authorization` header holds a subscriber token, valid or not. */
export function presentsSubscriberToken(request: FastifyRequest): boolean {
  const credential = headerCredential(request);
  return credential !== null && shapedLikeSubscriberToken(credential);
}

function queryCredential(request: FastifyRequest): string | null {
  const query = request.query as { token?: unknown } | undefined;
  return typeof query?.token === 'string' && query.token !== '' ? query.token : null;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether a token's subscriber still exists, and is the one it was minted for: after an erasure
 * (DELETE /v1/subscribers/{id}) the tokens minted before hold nothing, even once an event or a
 * new token has created a new, empty subscriber of that id.
 */
export async function tokenSubscriberHolds(
  store: Pick<SubscriberStore, 'getSubscriber'>,
  claims: VerifiedSubscriberToken,
): Promise<boolean> {
  const subscriber = await store.getSubscriber(claims.tenantId, claims.subscriberId);
  if (!subscriber) return false;
  // Tokens name their subscriber's creation time; older ones only carry `iat`, in whole seconds.
  return claims.subscriberCreatedAt !== undefined
    ? claims.subscriberCreatedAt === subscriber.createdAt
    : claims.issuedAt === null || claims.issuedAt + 1000 > subscriber.createdAt;
}

/**
 * Authenticates requests in `onRequest` (before any body is read): server keys by their SHA-256
 * (cached briefly, so the hot path does not hit the store), subscriber tokens by signature and
 * expiry, the operator key by a constant-time comparison. Server keys are read only from the
 * `Authorization` header; `?token=` is taken only on stream routes and only as a subscriber token
 * (browsers cannot set headers on EventSource/WebSocket, and URLs end up in logs). Failed
 * attempts are counted per address: past the allowance they answer 429 instead of 401.
 */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const { store, tokenKey } = options;
  const throttle = options.throttle ?? new AuthThrottle();
  const now = options.now ?? Date.now;
  const operatorDigest = options.operatorKey === null ? null : sha256(options.operatorKey);
  const cache = new Map<string, { tenantId: string | null; at: number }>();
  // Counts forgetKeys calls: a lookup read before a revocation was heard, and answered after it,
  // is not cached (it would hold the revoked key for another KEY_CACHE_TTL_MS).
  let forgotten = 0;

  async function tenantForKey(key: string): Promise<string | null> {
    const hash = hashApiKey(key);
    const hit = cache.get(hash);
    if (hit && now() - hit.at < KEY_CACHE_TTL_MS) return hit.tenantId;
    const asOf = forgotten;
    const tenantId = await store.tenantForKeyHash(hash);
    if (asOf !== forgotten) return tenantId;
    // Full (a flood of wrong keys, say): forget the oldest entry, not the valid keys in use.
    if (hit) cache.delete(hash);
    else if (cache.size >= KEY_CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(hash, { tenantId, at: now() });
    return tenantId;
  }

  function isOperatorKey(credential: string): boolean {
    // Both sides hashed to the same length first, so the comparison time says nothing about the key.
    return operatorDigest !== null && timingSafeEqual(sha256(credential), operatorDigest);
  }

  /** A token whose subscriber was erased (tokenSubscriberHolds) answers 404. */
  async function checkSubscriberExists(claims: VerifiedSubscriberToken): Promise<void> {
    if (!(await tokenSubscriberHolds(store, claims)))
      throw new ApiError('not_found', `subscriber ${JSON.stringify(claims.subscriberId)} not found (erased)`);
  }

  /** A presented credential was refused: `refusal`, or 429 once this address has failed too often. */
  function refused(request: FastifyRequest, refusal: ApiError): ApiError {
    const retryAfter = throttle.fail(request.ip, now());
    if (retryAfter === null) return refusal;
    return new ApiError(
      'too_many_failed_attempts',
      'too many failed authentication attempts from this address; retry later',
      [],
      { 'retry-after': String(retryAfter) },
    );
  }

  const refuse = (request: FastifyRequest, message: string) =>
    refused(request, new ApiError('unauthorized', message));

  async function authenticate(request: FastifyRequest, mode: AuthMode, queryToken: boolean): Promise<void> {
    if (mode === 'none') return;
    if (mode === 'operator' && operatorDigest === null) {
      // Off unless TIDINGS_OPERATOR_KEY is set: the routes do not exist, whatever the caller sends.
      throw new ApiError('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`);
    }
    const fromHeader = headerCredential(request);
    const fromQuery = fromHeader === null && queryToken ? queryCredential(request) : null;
    const credential = fromHeader ?? fromQuery;
    if (credential === null) {
      throw new ApiError(
        'unauthorized',
        `missing credentials: send "Authorization: Bearer <${CREDENTIAL_NAMES[mode]}>"`,
      );
    }
    if (credential === '') throw refuse(request, 'the Authorization header must be "Bearer <key>"');

    if (mode === 'operator') {
      if (isOperatorKey(credential)) return;
      throw refuse(request, 'the operator key is not valid');
    }
    if ((mode === 'server' || mode === 'server-or-subscriber') && fromQuery === null) {
      const tenantId = await tenantForKey(credential);
      if (tenantId) {
        request.tenantId = tenantId;
        request.subscriberId = null;
        request.subscriberToken = null;
        return;
      }
    }
    if (mode !== 'server' && shapedLikeSubscriberToken(credential)) {
      const claims = await verifySubscriberToken(tokenKey, credential);
      if (claims) {
        await checkSubscriberExists(claims);
        request.tenantId = claims.tenantId;
        request.subscriberId = claims.subscriberId;
        request.subscriberToken = claims;
        return;
      }
      throw refuse(request, 'the subscriber token is invalid or has expired');
    }
    throw refuse(
      request,
      mode === 'subscriber' ? 'a subscriber token is required' : 'the API key is not valid',
    );
  }

  const forgetKeys = () => {
    forgotten++;
    cache.clear();
  };
  return { authenticate, forgetKeys, refused };
}
