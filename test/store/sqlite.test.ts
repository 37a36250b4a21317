import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { runStoreContract } from './contract.ts';

runStoreContract('sqlite (file)', async () =>
  openSqliteStore({ file: path.join(mkdtempSync(path.join(tmpdir(), 'tidings-store-')), 'test.db') }),
);
runStoreContract('sqlite (memory)', async () => openSqliteStore({ file: ':memory:' }));
