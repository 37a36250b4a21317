import pg from 'pg';

/** A pool, or a client inside a transaction: both run queries. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

// Epoch-millisecond times and job ids are BIGINT; their values stay far below 2^53, so they are
// read as numbers rather than pg's default strings. json/jsonb arrive as their text, as SQLite
// hands them back, so both adapters share one row mapping (src/store/rows.ts): a parsed jsonb
// string value ("now") could not be told apart from JSON text.
const INT8_OID = 20;
const JSON_OIDS = new Set([114, 3802]);
const asText = (value: string) => value;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format === 'binary') return pg.types.getTypeParser(oid, format);
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (JSON_OIDS.has(oid)) return asText;
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

export interface PoolOptions {
  url: string;
  /** Connections this process keeps at most. */
  max?: number;
  /** A pooled connection failed while idle (the server restarted, say); the pool replaces it. */
  onIdleError?: (error: Error) => void;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    types,
    connectionTimeoutMillis: 10_000,
    application_name: 'tidings',
  });
  // Without a listener an idle connection's error would crash the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}

/** Deadlocks and serialization failures roll the whole statement back: running it again is safe. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_TRIES = 5;

function isRetryable(error: unknown): boolean {
  return RETRYABLE.has((error as { code?: string }).code ?? '');
}

async function pause(attempt: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** attempt));
}

/** Runs one statement, again if it lost a deadlock. */
export async function run<R extends pg.QueryResultRow = Record<string, unknown>>(
  db: Queryable,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.query<R>(text, values);
    } catch (error) {
      if (attempt >= MAX_TRIES || !isRetryable(error) || 'release' in db) throw error;
      await pause(attempt);
    }
  }
}

/**
 * Runs `work` on one checked-out connection (a transaction, a session lock, a VACUUM). The pool
 * listens for errors of idle connections only: should the server go away while this one is
 * checked out, node-postgres emits 'error' on it, which unheard would end the process. It is
 * heard here, and such a connection is discarded rather than pooled, as is one whose `work`
 * calls `discard` (a session whose state is unknown, or whose session locks must end with it).
 */
export async function withClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, discard: () => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  const discard = () => {
    broken = true;
  };
  client.on('error', discard);
  try {
    return await work(client, discard);
  } finally {
    client.off('error', discard);
    client.release(broken);
  }
}

/**
 * Runs `work` holding the session advisory lock `key` (see locks.ts) on a connection of its own.
 * With `wait`, queues for the lock; without, answers null at once when another session holds it.
 */
export async function withSessionLock<T>(
  pool: pg.Pool,
  key: number,
  options: { wait: boolean },
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T | null> {
  return withClient(pool, async (client, discard) => {
    if (options.wait) {
      await client.query('SELECT pg_advisory_lock($1)', [key]);
    } else {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
      if (!rows[0]?.ok) return null;
    }
    try {
      return await work(client);
    } finally {
      // Should the unlock fail, ending the session releases the lock.
      await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(discard);
    }
  });
}

/** Runs `work` in one transaction on one connection; a deadlock victim is run again from the start. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withClient(pool, async (client, discard) => {
        await client.query('BEGIN');
        try {
          const result = await work(client);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(discard);
          throw error;
        }
      });
    } catch (error) {
      if (attempt >= MAX_TRIES || !isRetryable(error)) throw error;
    }
    await pause(attempt);
  }
}
