import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Names a caller gives are looked up as own keys only: "__proto__", "constructor" and the other
 * members of Object.prototype are names like any other, never a hit in a lookup table. Found by
 * the hostile-input sweep: an integration PUT with `"provider": "__proto__"` was a 500.
 */
describe('Object.prototype member names in request bodies', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'])(
    'an integration whose provider is %s is a 400 naming provider, and nothing is stored',
    async (provider) => {
      const answer = await server.call('PUT', '/v1/integrations/proto-provider', {
        channel: 'email',
        provider,
        config: { from: 'a@example.com' },
        credentials: { apiKey: 'SG.x' },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error.code).toBe('validation_failed');
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual(['provider']);
      expect((await server.call('GET', '/v1/integrations/proto-provider')).status).toBe(404);
    },
  );
});
