import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { migrationFiles } from '../migration-files.ts';
import { withSessionLock } from './client.ts';
import { ADVISORY_LOCKS } from './locks.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Applies the numbered `migrations/NNN_name.sql` files not yet applied, each in its own
 * transaction, under an advisory lock: processes started together migrate once, the others wait
 * and then find nothing left to do.
 */
export async function migrate(pool: pg.Pool): Promise<string[]> {
  const done = await withSessionLock(pool, ADVISORY_LOCKS.migrations, { wait: true }, async (client) => {
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    );
    const applied = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const ran: string[] = [];
    for (const { version, name: file, sql } of migrationFiles(MIGRATIONS_DIR)) {
      if (applied.has(version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          version,
          file,
          Date.now(),
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(error as Error).message}`, { cause: error });
      }
      ran.push(file);
    }
    return ran;
  });
  return done ?? [];
}
