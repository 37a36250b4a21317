import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT, seedDemoWorkflow } from '../../../src/cli/bootstrap.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';

describe('the demo workflow', () => {
  let store: Store;
  beforeEach(() => {
    store = openSqliteStore({ file: ':memory:' });
  });
  afterEach(async () => {
    await store.close();
  });

  it('is made by the first start only: one the user deleted stays deleted', async () => {
    await seedDemoWorkflow(store);
    expect((await store.getWorkflow(DEFAULT_TENANT, 'welcome'))?.key).toBe('welcome');
    await store.deleteWorkflow(DEFAULT_TENANT, 'welcome', Date.now());
    await seedDemoWorkflow(store);
    expect(await store.getWorkflow(DEFAULT_TENANT, 'welcome')).toBeNull();
  });

  it('is made once when processes start together', async () => {
    await Promise.all([seedDemoWorkflow(store), seedDemoWorkflow(store), seedDemoWorkflow(store)]);
    expect(await store.listWorkflowVersions(DEFAULT_TENANT, 'welcome')).toHaveLength(1);
  });
});
