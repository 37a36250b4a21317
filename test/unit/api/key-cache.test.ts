import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../../src/api/auth.ts';

/** A request presenting `key` as the server API does. */
const requestWith = (key: string) =>
  ({
    headers: { authorization: `Bearer ${key}` },
    method: 'GET',
    url: '/v1/workflows',
    ip: '127.0.0.1',
  }) as unknown as FastifyRequest & { tenantId?: string };

describe('the key lookup cache', () => {
  it('does not keep a lookup read before a revocation was heard and answered after it', async () => {
    // The store's answers, one per lookup, released by the test: the first read sees the key
    // (before its revocation committed), and its answer arrives after the revocation was heard.
    const answers: ((tenantId: string | null) => void)[] = [];
    let reads = 0;
    const authenticator = createAuthenticator({
      store: {
        tenantForKeyHash: () => {
          reads++;
          return new Promise((resolve) => answers.push(resolve));
        },
        getSubscriber: async () => null,
      },
      tokenKey: new Uint8Array(32),
      operatorKey: null,
    });
    const first = authenticator.authenticate(requestWith('tdk_revoked_key'), 'server', false);
    await new Promise((resolve) => setImmediate(resolve));
    authenticator.forgetKeys();
    answers.shift()!('t1');
    await first;
    // The next request reads the store again (a cached answer would not), which now refuses it.
    const second = authenticator.authenticate(requestWith('tdk_revoked_key'), 'server', false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads).toBe(2);
    answers.shift()!(null);
    await expect(second).rejects.toThrow(/not valid/);
  });

  it('keeps lookups no revocation raced', async () => {
    let reads = 0;
    const authenticator = createAuthenticator({
      store: {
        tenantForKeyHash: async () => {
          reads++;
          return 't1';
        },
        getSubscriber: async () => null,
      },
      tokenKey: new Uint8Array(32),
      operatorKey: null,
    });
    await authenticator.authenticate(requestWith('tdk_kept_key'), 'server', false);
    await authenticator.authenticate(requestWith('tdk_kept_key'), 'server', false);
    expect(reads).toBe(1);
  });
});
