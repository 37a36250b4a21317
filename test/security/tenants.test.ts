import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const SECRET = 'tenants-test-secret-0123456789abcdef0123456789';
const OPERATOR_KEY = 'op_0123456789abcdef0123456789abcdef0123';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ TIDINGS_SECRET: SECRET, TIDINGS_OPERATOR_KEY: OPERATOR_KEY });
});

afterAll(async () => {
  await server?.close();
});

const asOperator = { auth: OPERATOR_KEY };

describe('Tenant API (operators)', () => {
  it('creates a tenant whose key, shown once, sees only that tenant', async () => {
    const created = await server.call('POST', '/v1/tenants', { name: 'Acme Corp' }, asOperator);
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toMatchObject({
      tenantId: expect.stringMatching(/^ten_/),
      name: 'Acme Corp',
      apiKey: expect.stringMatching(/^tdk_/),
      keyId: expect.stringMatching(/^key_/),
    });
    const acme = { auth: created.body.apiKey };

    const put = await server.call(
      'PUT',
      '/v1/workflows/acme-only',
      { channels: [{ channel: 'in_app', template: { title: 't', body: 'b' } }] },
      acme,
    );
    expect(put.status).toBe(200);
    expect((await server.call('GET', '/v1/workflows/acme-only')).status).toBe(404);
    expect((await server.call('GET', '/v1/workflows/acme-only', undefined, acme)).status).toBe(200);

    const list = await server.call('GET', '/v1/tenants', undefined, asOperator);
    expect(list.status).toBe(200);
    expect(list.body.nextCursor).toBeNull();
    const ids = list.body.items.map((t: { tenantId: string }) => t.tenantId);
    expect(ids).toContain('default');
    expect(list.body.items).toContainEqual({
      tenantId: created.body.tenantId,
      name: 'Acme Corp',
      createdAt: expect.any(String),
    });
    expect(JSON.stringify(list.body)).not.toContain(created.body.apiKey);
  });

  it('pages tenants with the cursors it issues; any other cursor (garbage, a bare tenant id) is a 400 naming cursor', async () => {
    for (const name of ['Page A', 'Page B', 'Page C'])
      expect((await server.call('POST', '/v1/tenants', { name }, asOperator)).status).toBe(201);
    const all = (await server.call('GET', '/v1/tenants', undefined, asOperator)).body.items;
    expect(all.length).toBeGreaterThanOrEqual(4);
    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = await server.call('GET', `/v1/tenants?limit=2${query}`, undefined, asOperator);
      expect(page.status).toBe(200);
      paged.push(...page.body.items.map((t: { tenantId: string }) => t.tenantId));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(paged).toEqual(all.map((t: { tenantId: string }) => t.tenantId));
    expect(pages).toBeGreaterThanOrEqual(2);
    // A page that ends the list exactly gives no cursor to an empty page.
    const exact = await server.call('GET', `/v1/tenants?limit=${all.length}`, undefined, asOperator);
    expect(exact.body.items).toHaveLength(all.length);
    expect(exact.body.nextCursor).toBeNull();

    const forged = (text: string) => Buffer.from(text).toString('base64url');
    for (const bad of ['garbage', 'default', all[0].tenantId, forged('k1\u0000default'), forged('t1')]) {
      const answer = await server.call(
        'GET',
        `/v1/tenants?cursor=${encodeURIComponent(bad)}`,
        undefined,
        asOperator,
      );
      expect(answer.status, bad).toBe(400);
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual(['cursor']);
    }
  });

  it('adds, lists and revokes keys; a revoked key is refused at once', async () => {
    const tenant = (await server.call('POST', '/v1/tenants', { name: 'Keys Inc' }, asOperator)).body;
    const route = `/v1/tenants/${tenant.tenantId}/keys`;
    const added = await server.call('POST', route, { label: 'ci' }, asOperator);
    expect(added.status).toBe(201);
    expect(added.headers.get('cache-control')).toBe('no-store');
    expect(added.body).toMatchObject({
      keyId: expect.stringMatching(/^key_/),
      apiKey: expect.any(String),
      label: 'ci',
    });
    const unlabelled = await server.call('POST', route, undefined, asOperator);
    expect(unlabelled.status).toBe(201);

    const keys = await server.call('GET', route, undefined, asOperator);
    expect(keys.status).toBe(200);
    expect(keys.body.nextCursor).toBeNull();
    const listed = keys.body.items.map((k: { keyId: string }) => k.keyId);
    expect(listed.sort()).toEqual([tenant.keyId, added.body.keyId, unlabelled.body.keyId].sort());
    expect(keys.body.items).toContainEqual({
      keyId: added.body.keyId,
      prefix: added.body.apiKey.slice(0, 8),
      label: 'ci',
      createdAt: expect.any(String),
    });
    for (const secret of [tenant.apiKey, added.body.apiKey])
      expect(JSON.stringify(keys.body)).not.toContain(secret);

    // Used (and so cached) just before the revocation: refused at once all the same.
    const key = { auth: added.body.apiKey };
    expect((await server.call('GET', '/v1/workflows', undefined, key)).status).toBe(200);
    const revoked = await server.call('DELETE', `${route}/${added.body.keyId}`, undefined, asOperator);
    expect(revoked.status).toBe(204);
    expect((await server.call('GET', '/v1/workflows', undefined, key)).status).toBe(401);
    expect((await server.call('GET', '/v1/workflows', undefined, { auth: tenant.apiKey })).status).toBe(200);
    expect((await server.call('DELETE', `${route}/${added.body.keyId}`, undefined, asOperator)).status).toBe(
      404,
    );

    // A key id is only found under its own tenant; unknown tenants are 404.
    const other = `/v1/tenants/default/keys/${unlabelled.body.keyId}`;
    expect((await server.call('DELETE', other, undefined, asOperator)).status).toBe(404);
    expect((await server.call('GET', '/v1/tenants/ten_nope/keys', undefined, asOperator)).status).toBe(404);
    expect((await server.call('POST', '/v1/tenants/ten_nope/keys', {}, asOperator)).status).toBe(404);

    // The default tenant's `default` label is the key TIDINGS_API_KEY sets, replaced at every start:
    // a key made under it would be revoked by the next one. Other tenants may use it.
    const reserved = await server.call('POST', '/v1/tenants/default/keys', { label: 'default' }, asOperator);
    expect(reserved.status).toBe(422);
    expect(reserved.body.error.details).toEqual([
      { path: 'label', message: expect.stringContaining('TIDINGS_API_KEY') },
    ]);
    expect((await server.call('POST', route, { label: 'default' }, asOperator)).status).toBe(201);
  });

  it('lists keys as the lists that are always one page do: any cursor or other parameter is a 400 naming it', async () => {
    for (const [query, path] of [
      ['cursor=garbage', 'cursor'],
      ['cursor=%00', 'cursor'],
      ['limit=5', 'limit'],
      ['foo=1', 'foo'],
    ]) {
      const answer = await server.call('GET', `/v1/tenants/default/keys?${query}`, undefined, asOperator);
      expect(answer.status, `${query}: ${JSON.stringify(answer.body)}`).toBe(400);
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    }
    // An empty parameter is one not sent.
    expect((await server.call('GET', '/v1/tenants/default/keys?cursor=', undefined, asOperator)).status).toBe(
      200,
    );
  });

  it('refuses tenant keys and no key on the operator routes, and the operator key on tenant routes', async () => {
    for (const auth of [server.key, null, 'op_wrong_0123456789abcdef0123456789abcdef']) {
      const answer = await server.call('POST', '/v1/tenants', { name: 'Sneaky' }, { auth });
      expect([401, 403]).toContain(answer.status);
      expect([401, 403]).toContain((await server.call('GET', '/v1/tenants', undefined, { auth })).status);
      const keys = await server.call('GET', '/v1/tenants/default/keys', undefined, { auth });
      expect([401, 403]).toContain(keys.status);
    }
    expect((await server.call('GET', '/v1/workflows', undefined, asOperator)).status).toBe(401);
    expect((await server.call('POST', '/v1/events', { workflow: 'w', to: ['u'] }, asOperator)).status).toBe(
      401,
    );
  });

  it('refuses bad input naming the field, before creating anything', async () => {
    let before = (await server.call('GET', '/v1/tenants', undefined, asOperator)).body.items.length;
    for (const body of [
      {},
      { name: '' },
      { name: 'a\u0000b' },
      { name: 'x'.repeat(201) },
      { name: 'ok', extra: 1 },
    ]) {
      const refused = await server.call('POST', '/v1/tenants', body, asOperator);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe('validation_failed');
    }
    const noName = await server.call('POST', '/v1/tenants', {}, asOperator);
    expect(JSON.stringify(noName.body.error.details)).toContain('name');
    const badLabel = await server.call('POST', '/v1/tenants/default/keys', { label: 'a\nb' }, asOperator);
    expect(badLabel.status).toBe(400);
    expect(badLabel.body.error.details[0].path).toContain('label');
    // Bidi controls make a name read as something it is not ("\u202e evil" shows as "live "):
    // overrides, embeddings, isolates and marks are all refused, in names and labels alike; so are
    // C1 controls.
    for (const bidi of ['\u202e', '\u202a', '\u2066', '\u2069', '\u200e', '\u200f', '\u061c', '\u0085']) {
      const name = await server.call('POST', '/v1/tenants', { name: `${bidi} evil` }, asOperator);
      expect(name.status, JSON.stringify(bidi)).toBe(400);
      expect(name.body.error.details.map((d: { path: string }) => d.path)).toEqual(['name']);
      const label = await server.call('POST', '/v1/tenants/default/keys', { label: `ci${bidi}` }, asOperator);
      expect(label.status, JSON.stringify(bidi)).toBe(400);
      expect(label.body.error.details.map((d: { path: string }) => d.path)).toEqual(['label']);
    }
    // Right-to-left scripts themselves are fine.
    const hebrew = await server.call('POST', '/v1/tenants', { name: 'שלום Corp' }, asOperator);
    expect(hebrew.status).toBe(201);
    expect(hebrew.body.name).toBe('שלום Corp');
    before++;
    expect((await server.call('GET', '/v1/tenants', undefined, asOperator)).body.items.length).toBe(before);
  });

  it('answers 404 on every operator route when TIDINGS_OPERATOR_KEY is unset', async () => {
    const plain = await startTestServer({ TIDINGS_SECRET: SECRET });
    try {
      for (const auth of [OPERATOR_KEY, plain.key, null]) {
        expect((await plain.call('POST', '/v1/tenants', { name: 'x' }, { auth })).status).toBe(404);
        expect((await plain.call('GET', '/v1/tenants', undefined, { auth })).status).toBe(404);
        expect((await plain.call('GET', '/v1/tenants/default/keys', undefined, { auth })).status).toBe(404);
        expect((await plain.call('POST', '/v1/tenants/default/keys', undefined, { auth })).status).toBe(404);
        expect(
          (await plain.call('DELETE', '/v1/tenants/default/keys/key_x', undefined, { auth })).status,
        ).toBe(404);
      }
    } finally {
      await plain.close();
    }
  });
});
