import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seedDefaultTenant } from '../../../src/cli/bootstrap.ts';
import { loadConfig } from '../../../src/config/index.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';

describe('the saved api-key file', () => {
  let store: Store;
  let dataDir: string;
  beforeEach(() => {
    store = openSqliteStore({ file: ':memory:' });
    dataDir = mkdtempSync(path.join(tmpdir(), 'tidings-key-file-'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const config = (env: Record<string, string> = {}) =>
    loadConfig({ TIDINGS_DATABASE_URL: 'sqlite::memory:', TIDINGS_DATA_DIR: dataDir, ...env });

  it('goes when TIDINGS_API_KEY replaces the generated key it holds (that key is refused from then on)', async () => {
    const first = await seedDefaultTenant(store, config());
    expect(readFileSync(first.keyFile, 'utf8').trim()).toBe(first.generatedKey);

    await seedDefaultTenant(store, config({ TIDINGS_API_KEY: 'my_own_key_0123456789abcdef' }));
    expect(existsSync(first.keyFile)).toBe(false);
  });

  it('stays when TIDINGS_API_KEY is the key it holds', async () => {
    const first = await seedDefaultTenant(store, config());
    await seedDefaultTenant(store, config({ TIDINGS_API_KEY: first.generatedKey! }));
    expect(readFileSync(first.keyFile, 'utf8').trim()).toBe(first.generatedKey);
  });
});
