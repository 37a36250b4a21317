import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesEtag } from '../../../src/api/routes/inbox-script.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

describe('matchesEtag', () => {
  it.each([
    [undefined, false],
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ['*', true],
    ['"abcd"', false],
    ['abc', false],
  ])('%s → %s', (header, expected) => {
    expect(matchesEtag(header, '"abc"')).toBe(expected);
  });
});

describe('GET /inbox.js', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves web/inbox/inbox.js as a module without auth, cacheable, revalidated with its ETag', async () => {
    const first = await fetch(`${server.url}/inbox.js`, { headers: { origin: 'https://app.example' } });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(first.headers.get('cache-control')).toBe('public, max-age=300');
    expect(first.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect(await first.text()).toBe(readFileSync('web/inbox/inbox.js', 'utf8'));

    const again = await fetch(`${server.url}/inbox.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');
    const stale = await fetch(`${server.url}/inbox.js`, { headers: { 'if-none-match': '"old"' } });
    expect(stale.status).toBe(200);
    const openapi = (await server.call('GET', '/openapi.json', undefined, { auth: null })).body;
    expect(openapi.paths['/inbox.js'].get.security).toEqual([]);
    expect(Object.keys(openapi.paths['/v1/preferences-page'])).toEqual(
      expect.arrayContaining(['get', 'post']),
    );
    const head = await fetch(`${server.url}/inbox.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);
  });
});
