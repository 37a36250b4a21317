import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/port.ts';
import { createPool } from '../../src/store/postgres/client.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';

// Migration 042 added a claim taking a per-tenant bound across lanes; the 8-argument claim of
// 040 stays for workers of the version before, now a call of the new one without that bound.

let store: Store | null = null;
let db: pg.Pool | null = null;

afterEach(async () => {
  await store?.close();
  await db?.end();
  store = null;
  db = null;
});

describe.skipIf(!postgresAvailable)('tidings_claim as an older worker calls it (8 arguments)', () => {
  it("still leases ready jobs within each tenant's lane cap", async () => {
    const url = await freshDatabaseUrl();
    store = await openPostgresStore({ url });
    const now = Date.now();
    await store.enqueueJobs(
      ['ten_a', 'ten_a', 'ten_a', 'ten_b'].map((tenantId, i) => ({
        tenantId,
        kind: 'send',
        lane: 'normal' as const,
        payload: { n: i },
        runAt: now - 1000,
      })),
    );
    db = createPool({ url, max: 1, onIdleError: () => undefined });
    const { rows } = await db.query<{ tenant_id: string; lease_owner: string }>(
      'SELECT tenant_id, lease_owner FROM tidings_claim($1, $2, $3, $4, $5, $6, $7, $8)',
      ['old-worker', now, now + 30_000, ['normal'], [10], [''], [2], JSON.stringify([null])],
    );
    expect(rows.map((row) => row.tenant_id).sort()).toEqual(['ten_a', 'ten_a', 'ten_b']);
    expect(new Set(rows.map((row) => row.lease_owner))).toEqual(new Set(['old-worker']));
  });
});
