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

/** Runs `work` in one transaction on one connection; a deadlock victim is run again from the start. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    // The pool listens for errors of idle connections only. Should the server go away while this
    // one is checked out (a restart mid-transaction), node-postgres emits 'error' on it, which
    // unheard would end the process; the query in flight fails anyway and is handled below.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      if (attempt >= MAX_TRIES || !isRetryable(error)) throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
    await pause(attempt);
  }
}
