import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/port.ts';
import { createPool } from '../../src/store/postgres/client.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { changeOpenPartsFrom } from '../../src/store/postgres/jobs.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';

const EVENTS = 40;
const WRITERS = 4;
const STATEMENTS_EACH = 150;

let store: Store | null = null;
let pool: pg.Pool | null = null;

afterEach(async () => {
  await pool?.end();
  await store?.close();
  pool = null;
  store = null;
});

const eventId = (i: number) => `evt_${String(i).padStart(3, '0')}`;

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

// Batches of jobs of different events complete from several workers at once, each statement
// changing the open parts of many events. Without a lock order, 4 writers of 20 random events
// each deadlocked (40P01) about once in twenty statements; a deadlock loses the batch's write.
describe.skipIf(!postgresAvailable)('PostgreSQL open parts: concurrent changes of many events', () => {
  it('never deadlock, and every change is counted once', async () => {
    const url = await freshDatabaseUrl();
    store = await openPostgresStore({ url });
    pool = createPool({ url, max: WRITERS, onIdleError: () => undefined });
    const db = pool;
    await db.query(
      `INSERT INTO events (tenant_id, id, workflow, payload, priority, status, created_at, open_parts)
       SELECT 't', 'evt_' || lpad(i::TEXT, 3, '0'), 'w', '{}'::jsonb, 'normal', 'accepted', 0, 0
         FROM generate_series(0, ${EVENTS - 1}) AS i`,
    );
    const statement = `WITH done AS (SELECT unnest($2::BIGINT[]) AS id)
                       ${changeOpenPartsFrom('$1', 'done')}`;
    const expected = new Map<string, number>();
    async function writer(): Promise<void> {
      for (let k = 0; k < STATEMENTS_EACH; k++) {
        const events = shuffled([...Array(EVENTS).keys()]).slice(0, 20);
        const parts = events.map((i, job) => ({
          job_id: job,
          tenant_id: 't',
          event_id: eventId(i),
          amount: 1,
        }));
        for (const i of events) expected.set(eventId(i), (expected.get(eventId(i)) ?? 0) + 1);
        await db.query(statement, [JSON.stringify(parts), parts.map((p) => p.job_id)]);
      }
    }
    await Promise.all(Array.from({ length: WRITERS }, writer));
    const { rows } = await db.query<{ id: string; open_parts: number }>(
      `SELECT id, open_parts FROM events WHERE tenant_id = 't' ORDER BY id`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.open_parts]))).toEqual(
      Object.fromEntries([...expected].sort(([a], [b]) => a.localeCompare(b))),
    );
  });
});
