import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { KEYED_EVENTS_SQL } from '../../src/store/sqlite/events.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { migrate } from '../../src/store/sqlite/migrate.ts';
import { runStoreContract } from './contract.ts';

runStoreContract('sqlite (file)', async () =>
  openSqliteStore({ file: path.join(mkdtempSync(path.join(tmpdir(), 'tidings-store-')), 'test.db') }),
);
runStoreContract('sqlite (memory)', async () => openSqliteStore({ file: ':memory:' }));

it('finds events by cancellation key through their index, not by reading every event', () => {
  const db = new Database(':memory:');
  migrate(db);
  const plan = db.prepare(`EXPLAIN QUERY PLAN ${KEYED_EVENTS_SQL}`).all({ tenantId: 't', key: 'k' }) as {
    detail: string;
  }[];
  expect(plan.map((step) => step.detail).join('\n')).toMatch(/USING INDEX events_by_cancellation_key/);
  db.close();
});
