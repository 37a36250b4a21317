import type pg from 'pg';
import type { SqliteSource } from './source.ts';
import type { TableSpec } from './tables.ts';
import { insertBatch, insertSql } from './target.ts';

export interface TableProgress {
  table: string;
  /** Rows read from SQLite and sent so far. */
  sent: number;
  /** Rows in the SQLite table. */
  total: number;
  /** Of those sent, how many were new to PostgreSQL (the rest were there from an earlier run). */
  inserted: number;
}

export interface BatchLimits {
  /** Rows per INSERT. */
  rows: number;
  /** Bytes of JSON per INSERT: a table of large rendered emails still sends bounded statements. */
  bytes: number;
}

/**
 * Streams one table from SQLite into PostgreSQL, a batch per statement. Only the batch being built
 * is held in memory, however large the table. Each batch commits on its own, so an interruption
 * loses at most the batch in flight, and the next run re-sends the rest harmlessly.
 */
export async function copyTable(
  source: SqliteSource,
  client: pg.PoolClient,
  spec: TableSpec,
  limits: BatchLimits,
  onBatch: (progress: TableProgress) => void,
): Promise<TableProgress> {
  const sql = insertSql(spec);
  const progress: TableProgress = { table: spec.name, sent: 0, total: source.count(spec), inserted: 0 };
  let batch: string[] = [];
  let bytes = 0;

  const flush = async () => {
    if (batch.length === 0) return;
    const size = batch.length;
    const json = `[${batch.join(',')}]`;
    batch = [];
    bytes = 0;
    try {
      progress.inserted += await insertBatch(client, sql, json);
    } catch (error) {
      // Name the rows: a value PostgreSQL rejects (a NUL character, invalid JSON) is then findable.
      throw new Error(
        `copying ${spec.name} failed in rows ${progress.sent + 1}–${progress.sent + size}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    progress.sent += size;
    onBatch({ ...progress });
  };

  for (const row of source.rows(spec)) {
    const text = JSON.stringify(row);
    batch.push(text);
    bytes += text.length;
    if (batch.length >= limits.rows || bytes >= limits.bytes) await flush();
  }
  await flush();
  return progress;
}
