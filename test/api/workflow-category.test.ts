import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/shared/model.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A workflow's category is what a subscriber opts out of by name, so it holds only what a
 * preference's category key may (no control or bidi characters) and no space at either end:
 * "transactional " looked like the category nobody may opt out of, and was an ordinary one.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const channels = [{ channel: 'in_app', template: { title: 't', body: 'b' } }];
const RULE =
  'must be 1–64 characters without control characters or bidi overrides, not starting or ending with whitespace';

describe('a workflow category', () => {
  it.each([
    ['empty', ''],
    ['a trailing space', 'transactional '],
    ['a leading tab', '\tmarketing'],
    ['a no-break space at the end', 'security\u00a0'],
    ['a control character', 'promo\u0007'],
    ['a bidi override', 'promo\u202e'],
    ['65 characters', 'c'.repeat(65)],
  ])('with %s is a 400 naming it', async (_what, category) => {
    const answer = await server.call('PUT', '/v1/workflows/categorised', { category, channels });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ path: 'category', message: RULE }]);
    expect((await server.call('GET', '/v1/workflows/categorised')).status).toBe(404);
  });

  it('may hold inner spaces and any script, and is opted out of by that name', async () => {
    const category = 'Product updates — 製品';
    const put = await server.call('PUT', '/v1/workflows/categorised', { category, channels });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const patch = await server.call('PATCH', '/v1/subscribers/cat-sub/preferences', {
      categories: { [category]: { in_app: false } },
    });
    expect(patch.status, JSON.stringify(patch.body)).toBe(200);
  });

  it('stored before the rule still reads, and a rollback to it is refused as a PUT of it is', async () => {
    const { store } = server.tidings;
    const now = Date.now();
    const legacy = { category: 'transactional ', channels } as unknown as WorkflowDefinition;
    await store.putWorkflow('default', 'legacy-category', legacy, now);
    await store.putWorkflow('default', 'legacy-category', { ...legacy, category: 'news' }, now + 1);
    const versions = await server.call('GET', '/v1/workflows/legacy-category/versions');
    expect(versions.status).toBe(200);
    expect(
      versions.body.items.map((v: { definition: { category: string } }) => v.definition.category),
    ).toEqual(['news', 'transactional ']);
    const rollback = await server.call('POST', '/v1/workflows/legacy-category/rollback', { version: 1 });
    expect(rollback.status).toBe(400);
    expect(rollback.body.error.details).toEqual([{ path: 'category', message: RULE }]);
    expect((await server.call('GET', '/v1/workflows/legacy-category')).body.category).toBe('news');
  });
});
