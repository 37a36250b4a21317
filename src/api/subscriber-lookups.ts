import type { SubscriberRecord } from '../shared/model.ts';
import type { SubscriberStore } from '../store/port.ts';

/** Subscribers read per statement. */
const PER_READ = 500;
/**
 * Statements out at once: a slow tenant's read does not hold up the others', and 10,000 checks
 * still take few of the pool's connections.
 */
const READS_AT_ONCE = 4;

interface Waiter {
  id: string;
  resolve: (subscriber: SubscriberRecord | null) => void;
  reject: (error: unknown) => void;
}

/**
 * `getSubscriber` for the open streams of a process, which ask it together: after a gap in the
 * inbox feed (a relay's listener reconnected) every stream checks its token still holds
 * (tokenSubscriberHolds) in the same moment, and read one at a time 10,000 checks kept the
 * process busy for seconds. Lookups asked in one turn of the event loop are read together, per
 * tenant, {@link PER_READ} ids per `getSubscribers`, {@link READS_AT_ONCE} reads at a time; each answer is as fresh as a lookup of its own
 * made then (the read starts after the request).
 */
export function batchedSubscriberLookups(
  store: Pick<SubscriberStore, 'getSubscribers'>,
): Pick<SubscriberStore, 'getSubscriber'> {
  let pending = new Map<string, Waiter[]>();
  let scheduled = false;

  /** Answers one slice's lookups; a failed read fails them, and only them. */
  const read = async (tenantId: string, slice: Waiter[]) => {
    try {
      const found = await store.getSubscribers(tenantId, [...new Set(slice.map((waiter) => waiter.id))]);
      const byId = new Map(found.map((subscriber) => [subscriber.id, subscriber]));
      for (const waiter of slice) waiter.resolve(byId.get(waiter.id) ?? null);
    } catch (error) {
      for (const waiter of slice) waiter.reject(error);
    }
  };

  const flush = async () => {
    const byTenant = pending;
    pending = new Map();
    scheduled = false;
    const slices: [string, Waiter[]][] = [];
    for (const [tenantId, waiters] of byTenant)
      for (let start = 0; start < waiters.length; start += PER_READ)
        slices.push([tenantId, waiters.slice(start, start + PER_READ)]);
    let next = 0;
    const reader = async () => {
      while (next < slices.length) await read(...slices[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(READS_AT_ONCE, slices.length) }, reader));
  };

  return {
    getSubscriber(tenantId, id) {
      return new Promise((resolve, reject) => {
        let waiters = pending.get(tenantId);
        if (!waiters) {
          waiters = [];
          pending.set(tenantId, waiters);
        }
        waiters.push({ id, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => void flush());
        }
      });
    },
  };
}
