import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { JobSignal } from '../../src/queue/signal.ts';
import { Worker } from '../../src/queue/worker.ts';
import { isStoreUnavailable, StoreUnavailableError } from '../../src/store/errors.ts';
import type { Store } from '../../src/store/port.ts';
import { createPool, run } from '../../src/store/postgres/client.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { classifyPostgresErrors } from '../../src/store/postgres/unavailable.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { freePort } from '../helpers/child.ts';
import { withPostgres } from '../helpers/pg-client.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

// Issue 12, finding 6b: store errors are typed, decided in the store. PostgreSQL's 08P01
// (protocol violation: here, a wrong bind count, as a buggy statement would send) was read as
// "store unavailable" from its class 08, so a job hitting it retried every second forever with
// its attempt refunded. Every error here is a real one from a real server.

const pools: pg.Pool[] = [];
let store: Store | null = null;
let worker: Worker | null = null;

afterEach(async () => {
  await worker?.stop(100);
  await store?.close();
  await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => undefined)));
  worker = null;
  store = null;
});

function pool(url: string): pg.Pool {
  const made = createPool({ url, max: 2, onIdleError: () => undefined });
  pools.push(made);
  return made;
}

/** Statements as a store method would run them, classified the way the PostgreSQL store is. */
function statements(db: pg.Pool) {
  return classifyPostgresErrors({
    // Two placeholders, one value: the server answers 08P01.
    wrongBindCount: async () => run(db, 'SELECT $1::INT + $2::INT AS n', [1]),
    sleep: async (seconds: number) => run(db, 'SELECT pg_sleep($1)', [seconds]),
    one: async () => run(db, 'SELECT 1'),
    // The server's own disk_full (53100), as it answers when it cannot extend a file.
    diskFull: async () =>
      run(db, `DO $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$`),
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(!postgresAvailable)('PostgreSQL store errors (typed in the store)', () => {
  it('a protocol violation (08P01, wrong bind count) is an ordinary error, not an outage', async () => {
    const error = await rejection(statements(pool(await freshDatabaseUrl())).wrongBindCount());
    expect(error).toMatchObject({ code: '08P01', message: expect.stringMatching(/bind message supplies 1/) });
    expect(isStoreUnavailable(error)).toBe(false);
  });

  it('a connection terminated by the server, or refused, is StoreUnavailableError', async () => {
    const url = await freshDatabaseUrl();
    const db = statements(pool(url));
    await db.one();
    const sleeping = rejection(db.sleep(30));
    await withPostgres(url, async (admin) => {
      await waitFor(
        async () =>
          (
            await admin.query(
              `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'SELECT pg_sleep%'`,
            )
          ).rowCount,
        'the sleeping statement to be terminated',
      );
    });
    const terminated = await sleeping;
    expect(terminated).toBeInstanceOf(StoreUnavailableError);
    expect(terminated).toMatchObject({ code: '57P01' });

    const closed = statements(pool(`postgres://postgres@127.0.0.1:${await freePort()}/none`));
    const refused = await rejection(closed.one());
    expect(refused).toBeInstanceOf(StoreUnavailableError);
    expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a full disk (53100) is StoreUnavailableError, out of space: the statement goes through once there is room', async () => {
    const error = await rejection(statements(pool(await freshDatabaseUrl())).diskFull());
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ code: '53100', why: 'out_of_space' });
  });

  it('a job whose statement is malformed spends its attempts and is dead-lettered, not retried forever', async () => {
    const url = await freshDatabaseUrl();
    store = await openPostgresStore({ url });
    const broken = statements(pool(url));
    await store.enqueueJobs([{ tenantId: 't', kind: 'work', lane: 'normal', payload: null, maxAttempts: 3 }]);
    const attempts: number[] = [];
    worker = new Worker({
      store,
      signal: new JobSignal(),
      logger: silentLogger(),
      handlers: [
        {
          kind: 'work',
          batchSize: 1,
          async run(jobs) {
            attempts.push(jobs[0]!.attempts);
            await broken.wrongBindCount();
            return [{ kind: 'done' }];
          },
        },
      ],
      pollMs: 20,
      storeRetryMs: 10,
      backoff: { baseMs: 1, capMs: 1 },
    });
    await worker.start();
    const dead = await waitFor(
      async () => (await store!.listDeadJobs(10))[0],
      'the job to be dead-lettered',
      10_000,
    );
    expect(attempts).toEqual([1, 2, 3]);
    expect(dead!.attempts).toBe(3);
    expect(dead!.lastError).toMatch(/bind message supplies 1/);
  });
});
