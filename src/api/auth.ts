import type { FastifyRequest } from 'fastify';
import { hashApiKey } from '../security/secrets.ts';
import { verifySubscriberToken } from '../security/subscriber-token.ts';
import type { TenantStore } from '../store/port.ts';
import type { AuthMode } from './context.ts';
import { ApiError } from './errors.ts';

const CACHE_TTL_MS = 10_000;

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1]! : null;
  }
  // Browsers cannot set headers on EventSource/WebSocket: streams may pass the token in the query.
  const query = request.query as { token?: unknown } | undefined;
  return typeof query?.token === 'string' ? query.token : null;
}

/**
 * Authenticates requests in `onRequest` (before any body is read): server keys by their SHA-256
 * (cached briefly, so the hot path does not hit the store), subscriber tokens by signature and expiry.
 */
export function createAuthenticator(store: TenantStore, tokenKey: Uint8Array) {
  const cache = new Map<string, { tenantId: string | null; at: number }>();

  async function tenantForKey(key: string): Promise<string | null> {
    const hash = hashApiKey(key);
    const hit = cache.get(hash);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS) return hit.tenantId;
    const tenantId = await store.tenantForKeyHash(hash);
    if (cache.size > 10_000) cache.clear();
    cache.set(hash, { tenantId, at: Date.now() });
    return tenantId;
  }

  return async function authenticate(request: FastifyRequest, mode: AuthMode): Promise<void> {
    if (mode === 'none') return;
    const credential = bearer(request);
    if (!credential)
      throw new ApiError('unauthorized', 'missing credentials: send "Authorization: Bearer <key>"');
    if (mode !== 'subscriber') {
      const tenantId = await tenantForKey(credential);
      if (tenantId) {
        request.tenantId = tenantId;
        request.subscriberId = null;
        return;
      }
    }
    if (mode !== 'server' && credential.split('.').length === 3) {
      const claims = await verifySubscriberToken(tokenKey, credential);
      if (claims) {
        request.tenantId = claims.tenantId;
        request.subscriberId = claims.subscriberId;
        return;
      }
      throw new ApiError('unauthorized', 'the subscriber token is invalid or has expired');
    }
    throw new ApiError(
      'unauthorized',
      mode === 'subscriber' ? 'a subscriber token is required' : 'the API key is not valid',
    );
  };
}
