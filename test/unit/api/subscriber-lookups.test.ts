import { afterEach, describe, expect, it } from 'vitest';
import { batchedSubscriberLookups } from '../../../src/api/subscriber-lookups.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';

let store: Store | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
});

/** A real in-memory store whose getSubscribers calls are kept (tenant and how many ids). */
async function countedStore() {
  const real = openSqliteStore({ file: ':memory:' });
  store = real;
  await real.ensureTenant('t1', 't1');
  await real.ensureTenant('t2', 't2');
  const reads: string[] = [];
  let failing = false;
  const counted = {
    async getSubscribers(tenantId: string, ids: string[]) {
      reads.push(`${tenantId} ${ids.length}`);
      if (failing) throw new Error('store unavailable');
      return real.getSubscribers(tenantId, ids);
    },
  };
  return { real, counted, reads, fail: () => (failing = true) };
}

describe('batchedSubscriberLookups', () => {
  it('reads the lookups of one turn together, per tenant and 500 at a time, each answered as its own would be', async () => {
    const { real, counted, reads } = await countedStore();
    const ids = Array.from({ length: 1_100 }, (_, i) => `u${i}`);
    await real.upsertSubscribers(
      't1',
      ids.map((id) => ({ id })),
      5,
    );
    await real.upsertSubscriber('t2', 'u0', {}, 7);
    const lookups = batchedSubscriberLookups(counted);
    const answers = await Promise.all([
      ...ids.map((id) => lookups.getSubscriber('t1', id)),
      lookups.getSubscriber('t1', 'u0'),
      lookups.getSubscriber('t1', 'nobody'),
      lookups.getSubscriber('t2', 'u0'),
    ]);
    expect(reads).toEqual(['t1 500', 't1 500', 't1 102', 't2 1']);
    expect(answers.slice(0, ids.length).map((s) => s?.id)).toEqual(ids);
    expect(answers.slice(ids.length).map((s) => s && [s.id, s.createdAt])).toEqual([
      ['u0', 5],
      null,
      ['u0', 7],
    ]);
    // A later turn reads again: an answer is never one read before it was asked.
    await real.upsertSubscriber('t1', 'late', {}, 9);
    expect((await lookups.getSubscriber('t1', 'late'))?.createdAt).toBe(9);
    expect(reads).toHaveLength(5);
  });

  it('rejects the lookups of a read that failed (the stream checking then ends)', async () => {
    const { counted, fail } = await countedStore();
    const lookups = batchedSubscriberLookups(counted);
    expect(await lookups.getSubscriber('t1', 'nobody')).toBeNull();
    fail();
    await expect(lookups.getSubscriber('t1', 'u1')).rejects.toThrow('store unavailable');
  });

  it("reads tenants side by side: one tenant's read that hangs or fails holds up no other's", async () => {
    const { real } = await countedStore();
    await real.upsertSubscriber('t2', 'u1', {}, 7);
    let answerT1: (found: never[]) => void = () => undefined;
    const lookups = batchedSubscriberLookups({
      async getSubscribers(tenantId, ids) {
        if (tenantId === 't1') return new Promise((resolve) => (answerT1 = resolve));
        if (tenantId === 't3') throw new Error('t3 unavailable');
        return real.getSubscribers(tenantId, ids);
      },
    });
    const slow = lookups.getSubscriber('t1', 'u1');
    const failing = lookups.getSubscriber('t3', 'u1');
    expect((await lookups.getSubscriber('t2', 'u1'))?.createdAt).toBe(7);
    await expect(failing).rejects.toThrow('t3 unavailable');
    answerT1([]);
    expect(await slow).toBeNull();
  });

  it('a failed slice fails its own lookups only: the next slice of the tenant is read and answered', async () => {
    const { real, counted, reads } = await countedStore();
    await real.upsertSubscriber('t1', 'u600', {}, 3);
    let calls = 0;
    const lookups = batchedSubscriberLookups({
      async getSubscribers(tenantId, ids) {
        if (calls++ === 0) throw new Error('first slice failed');
        return counted.getSubscribers(tenantId, ids);
      },
    });
    const answers = Array.from({ length: 700 }, (_, i) =>
      lookups.getSubscriber('t1', `u${i}`).then(
        (found) => found?.id ?? null,
        (error: Error) => error.message,
      ),
    );
    const settled = await Promise.all(answers);
    expect(settled.slice(0, 500).every((answer) => answer === 'first slice failed')).toBe(true);
    expect(settled[600]).toBe('u600');
    expect(settled.slice(500).filter((answer) => answer !== null)).toEqual(['u600']);
    expect(reads).toEqual(['t1 200']);
  });
});
