import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import type { Store } from '../../src/store/port.ts';
import { KEYED_EVENTS_SQL } from '../../src/store/sqlite/events.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { messageListSql } from '../../src/store/sqlite/messages.ts';
import { migrate } from '../../src/store/sqlite/migrate.ts';
import { runStoreContract } from './contract.ts';

const files = new WeakMap<Store, string>();

/** Every row of every table as JSON, then the database file's and its WAL's bytes. */
async function dumpSqlite(store: Store): Promise<string> {
  const file = files.get(store)!;
  const db = new Database(file, { readonly: true });
  const parts: string[] = [];
  try {
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .pluck()
      .all() as string[];
    for (const table of tables) parts.push(JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all()));
  } finally {
    db.close();
  }
  for (const bytes of [file, `${file}-wal`])
    if (existsSync(bytes)) parts.push(readFileSync(bytes).toString('latin1'));
  return parts.join('\n');
}

runStoreContract(
  'sqlite (file)',
  async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'tidings-store-')), 'test.db');
    const store = openSqliteStore({ file });
    files.set(store, file);
    return store;
  },
  {
    dump: dumpSqlite,
    async exec(store, sql) {
      const db = new Database(files.get(store)!);
      try {
        db.pragma('busy_timeout = 5000');
        db.exec(sql);
      } finally {
        db.close();
      }
    },
  },
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

it('reads an event and subscriber exactly by the effectively-once index, and a page of an event alone in id order', () => {
  const db = new Database(':memory:');
  migrate(db);
  const plan = (filter: Parameters<typeof messageListSql>[0]) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${messageListSql(filter)}`).all({ ...filter }) as { detail: string }[])
      .map((step) => step.detail)
      .join('\n');
  // The fallback handler asks this per recipient: a seek, never a walk through the event's messages.
  expect(plan({ tenantId: 't', eventId: 'e', subscriberId: 's', limit: 200 })).toMatch(
    /USING INDEX messages_once \(tenant_id=\? AND event_id=\? AND subscriber_id=\?\)/,
  );
  expect(plan({ tenantId: 't', eventId: 'e', limit: 200 })).toMatch(/USING INDEX messages_by_event/);
  expect(plan({ tenantId: 't', eventId: 'e', limit: 200 })).not.toMatch(/TEMP B-TREE/);
  db.close();
});
