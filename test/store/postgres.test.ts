import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { DigestJobPayload, DigestJoin, Store } from '../../src/store/port.ts';
import { KEYED_EVENTS_SQL } from '../../src/store/postgres/events.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { ADVISORY_LOCKS } from '../../src/store/postgres/locks.ts';
import { freshDatabaseUrl, freshMigratedDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { runStoreContract } from './contract.ts';

describe.runIf(postgresAvailable)('postgres', () => {
  const urls = new WeakMap<Store, string>();
  runStoreContract(
    'postgres',
    async () => {
      const url = await freshMigratedDatabaseUrl();
      const store = await openPostgresStore({ url });
      urls.set(store, url);
      return store;
    },
    {
      async exec(store, sql) {
        const db = new pg.Client({ connectionString: urls.get(store)! });
        await db.connect();
        try {
          await db.query(sql);
        } finally {
          await db.end();
        }
      },
      // Every row of every table, as PostgreSQL prints it.
      dump: async (store) => {
        const db = new pg.Client({ connectionString: urls.get(store)! });
        await db.connect();
        try {
          const { rows: tables } = await db.query<{ name: string }>(
            `SELECT table_name AS name FROM information_schema.tables
            WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
          );
          const parts: string[] = [];
          for (const { name } of tables) {
            const { rows } = await db.query<{ row: string }>(`SELECT t::text AS row FROM "${name}" AS t`);
            parts.push(...rows.map((r) => r.row));
          }
          return parts.join('\n');
        } finally {
          await db.end();
        }
      },
    },
  );

  it('answers racing first writers of a setting, and racing creators of a subscriber, with the one that won', async () => {
    const url = await freshDatabaseUrl();
    const stores = await Promise.all([openPostgresStore({ url }), openPostgresStore({ url })]);
    try {
      for (let round = 0; round < 5; round++) {
        const values = await Promise.all(
          Array.from({ length: 12 }, (_, i) => stores[i % 2]!.settingOnce(`secret_${round}`, `value_${i}`)),
        );
        expect(new Set(values).size).toBe(1);
        const loaded = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            stores[i % 2]!.loadOrCreateSubscribers('t', [`u_${round}`], 1),
          ),
        );
        for (const found of loaded) expect(found.map((s) => s.id)).toEqual([`u_${round}`]);
      }
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('finds events by cancellation key through their index, not by reading every event', async () => {
    const url = await freshDatabaseUrl();
    const store = await openPostgresStore({ url });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      // 5,000 events of one tenant, three of them keyed.
      await db.query(
        `INSERT INTO events (tenant_id, id, workflow, payload, priority, status, created_at)
         SELECT 't', 'evt_' || n, 'w',
                CASE WHEN n % 2000 = 0 THEN jsonb_build_object('cancellationKey', 'k') ELSE '{}' END,
                'normal', 'accepted', n
           FROM generate_series(1, 5000) AS n`,
      );
      await db.query('ANALYZE events');
      const { rows } = await db.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (FORMAT JSON) ${KEYED_EVENTS_SQL.replace('$1', "'t'").replace('$2', "'k'")}`,
      );
      expect(JSON.stringify(rows[0]!['QUERY PLAN'])).toContain('events_by_cancellation_key');
      expect((await db.query(KEYED_EVENTS_SQL, ['t', 'k'])).rowCount).toBe(2);
    } finally {
      await db.end();
      await store.close();
    }
  });

  it('digest joins racing closes on two stores: every join lands in exactly one digest, and every digest has exactly one close job', async () => {
    const url = await freshDatabaseUrl();
    const stores = await Promise.all([openPostgresStore({ url }), openPostgresStore({ url })]);
    const JOINS = 240;
    const gathered = new Map<string, string[]>();
    let joined = 0;
    try {
      const joiners = Array.from({ length: 8 }, async (_, w) => {
        while (joined < JOINS) {
          const n = joined++;
          const join = (eventId: string): DigestJoin => ({
            tenantId: 't',
            workflow: 'w',
            subscriberId: `u${n % 2}`,
            key: 'k',
            eventId,
            digestId: `dig_${eventId}`,
            now: Date.now(),
            windowMs: 1,
            job: { kind: 'digest', lane: 'normal' },
            steps: [{ step: 0, channel: 'in_app' }],
          });
          // Two events per write, for the two subscribers: a write locks two digests.
          await stores[w % 2]!.createMessages([], undefined, [], {
            joins: [join(`evt_${n}_a`), join(`evt_${n}_b`)].map((j, i) => ({ ...j, subscriberId: `u${i}` })),
          });
        }
      });
      let joining = true;
      const closer = async (store: Store, owner: string) => {
        for (;;) {
          const jobs = await store.claimJobs({
            owner,
            now: Date.now() + 60_000,
            leaseMs: 60_000,
            quotas: [{ lane: 'normal', limit: 10 }],
          });
          if (jobs.length === 0 && !joining) return;
          for (const job of jobs) {
            const { digestId } = job.payload as DigestJobPayload;
            const digest = await store.closeDigest('t', digestId);
            expect(digest, `close job for ${digestId}`).not.toBeNull();
            expect(gathered.has(digestId)).toBe(false);
            gathered.set(digestId, digest!.eventIds);
            await store.createMessages([], { owner, jobIds: [job.id] }, [], {
              finished: [{ tenantId: 't', id: digestId }],
            });
          }
        }
      };
      const closers = [closer(stores[0]!, 'c0'), closer(stores[1]!, 'c1')];
      await Promise.all(joiners);
      joining = false;
      await Promise.all(closers);
      const events = [...gathered.values()].flat();
      expect(events).toHaveLength(2 * JOINS);
      expect(new Set(events).size).toBe(2 * JOINS);
      // Closes raced the joins: windows were opened again and again.
      expect(gathered.size).toBeGreaterThan(2);
      expect(await stores[0]!.countJobs()).toEqual({ ready: 0, leased: 0, dead: 0 });
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('gives every advisory-lock purpose a key of its own', () => {
    // Shared keys made the queue vacuum refuse a concurrent `migrate --from` copy, and back.
    expect(new Set(Object.values(ADVISORY_LOCKS)).size).toBe(Object.keys(ADVISORY_LOCKS).length);
  });

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
