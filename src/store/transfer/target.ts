import type pg from 'pg';
import { run } from '../postgres/client.ts';
import { type ColumnKind, columnNames, type TableSpec, TENANT_TABLES } from './tables.ts';

/** Whether any tenant-owned row exists: a database someone already uses, or a copy under way. */
export async function hasTenantData(client: pg.PoolClient): Promise<boolean> {
  const probes = TENANT_TABLES.map((t) => `EXISTS (SELECT 1 FROM ${t})`).join(' OR ');
  const { rows } = await run<{ used: boolean }>(client, `SELECT ${probes} AS used`);
  return rows[0]?.used ?? false;
}

export async function readSetting(client: pg.PoolClient, key: string): Promise<string | undefined> {
  const { rows } = await run<{ value: string }>(client, 'SELECT value FROM settings WHERE key = $1', [key]);
  return rows[0]?.value;
}

export async function writeSetting(client: pg.PoolClient, key: string, value: string): Promise<void> {
  await run(
    client,
    'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value',
    [key, value],
  );
}

// Rows travel as one JSON array per batch. JSON columns ride along as the text SQLite kept and are
// parsed once, by the ::jsonb cast; 0/1 flags become booleans the same way.
const RECORD_TYPE: Record<ColumnKind, string> = { text: 'TEXT', int: 'BIGINT', json: 'TEXT', bool: 'BIGINT' };
const CONVERT: Record<ColumnKind, (value: string) => string> = {
  text: (v) => v,
  int: (v) => v,
  json: (v) => `${v}::jsonb`,
  bool: (v) => `(${v} <> 0)`,
};

/**
 * One INSERT per batch for the table: `$1` is a JSON array of rows keyed by column name.
 * ON CONFLICT DO NOTHING makes every batch safe to send again, which is what lets an interrupted
 * copy be finished by running the same command once more.
 */
export function insertSql(spec: TableSpec): string {
  const names = columnNames(spec);
  const record = names.map((n) => `"${n}" ${RECORD_TYPE[spec.columns[n]!]}`).join(', ');
  const values = names.map((n) => spec.rewrite?.[n] ?? CONVERT[spec.columns[n]!](`r."${n}"`)).join(', ');
  const overriding = spec.keepsIdentity ? ' OVERRIDING SYSTEM VALUE' : '';
  return `INSERT INTO ${spec.name} (${names.map((n) => `"${n}"`).join(', ')})${overriding}
    SELECT ${values} FROM json_to_recordset($1::json) AS r(${record})
    ON CONFLICT DO NOTHING`;
}

/** Sends one batch; answers how many of its rows were new. */
export async function insertBatch(client: pg.PoolClient, sql: string, rowsJson: string): Promise<number> {
  const result = await run(client, sql, [rowsJson]);
  return result.rowCount ?? 0;
}

/**
 * Copied rows of an identity table (jobs, the consent log) kept their ids, which the identity
 * sequence knows nothing about: moves it past the highest id so the next insert does not collide.
 * Never moves it back.
 */
export async function moveIdsPastCopied(client: pg.PoolClient, table: string): Promise<void> {
  await run(
    client,
    `WITH s AS (SELECT pg_get_serial_sequence('${table}', 'id')::regclass AS seq),
          m AS (SELECT max(id) AS top FROM ${table})
     SELECT setval(s.seq, m.top) FROM s, m
      WHERE m.top IS NOT NULL AND m.top > coalesce(pg_sequence_last_value(s.seq), 0)`,
  );
}

/**
 * PostgreSQL numbers a subscriber's next inbox change from `inbox_cursors` alone; SQLite numbers
 * from its log and writes a cursor only when a purge deletes log entries. So a copied log's
 * subscribers get a cursor at their highest copied number (never moved back), or their next change
 * would take a number the log already holds.
 */
export async function moveInboxCursorsPastCopiedLogs(client: pg.PoolClient): Promise<void> {
  await run(
    client,
    `INSERT INTO inbox_cursors (tenant_id, subscriber_id, last_seq)
     SELECT tenant_id, subscriber_id, max(seq) FROM inbox_changes GROUP BY tenant_id, subscriber_id
     ON CONFLICT (tenant_id, subscriber_id)
       DO UPDATE SET last_seq = GREATEST(inbox_cursors.last_seq, excluded.last_seq)`,
  );
}

/** Fresh planner statistics, so the first claims after a bulk load do not plan against empty tables. */
export async function analyze(client: pg.PoolClient, tables: readonly string[]): Promise<void> {
  await run(client, `ANALYZE ${tables.join(', ')}`);
}
