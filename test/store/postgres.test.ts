import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { runStoreContract } from './contract.ts';

describe.runIf(postgresAvailable)('postgres', () => {
  runStoreContract('postgres', async () => openPostgresStore({ url: await freshDatabaseUrl() }));

  it('vacuums the job queue once finished jobs leave enough dead rows behind', async () => {
    const url = await freshDatabaseUrl();
    const store = await openPostgresStore({ url });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const deadRows = async () => {
        const { rows } = await db.query<{ dead: string }>(
          `SELECT n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = 'jobs'`,
        );
        return Number(rows[0]!.dead);
      };
      expect(await store.maintainJobs!()).toBe(false);
      // 30,000 jobs queued and finished: each leaves a dead row version.
      await store.enqueueJobs(
        Array.from({ length: 30_000 }, (_, n) => ({
          tenantId: 't',
          kind: 'k',
          lane: 'normal' as const,
          payload: n,
        })),
      );
      await db.query('DELETE FROM jobs');
      await waitFor(
        async () => (await deadRows()) >= 30_000,
        'the statistics to count the dead rows',
        10_000,
      );
      expect(await store.maintainJobs!()).toBe(true);
      await waitFor(async () => (await deadRows()) < 1_000, 'the dead rows to be gone', 10_000);
    } finally {
      await db.end();
      await store.close();
    }
  });
});
