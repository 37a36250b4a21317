import { expect, it } from 'vitest';
import type { JobSpec, MarkedItem } from '../../../src/store/port.ts';
import { type EmitContext, emitInboxReads } from '../../../src/webhooks/api-events.ts';

// A read-all may read thousands of items at once: their message.read jobs are queued a thousand a
// write, the event loop given back between, none lost at the edges.
it("queues a read-all's message.read events a thousand a write, every one of them", async () => {
  const writes: number[] = [];
  let counted = 0;
  const context = {
    store: { enqueueJobs: async (jobs: JobSpec[]) => void writes.push(jobs.length) },
    signal: { notify: () => {} },
    webhooks: {
      forMessage: async (item: MarkedItem): Promise<JobSpec[]> => [
        { tenantId: item.tenantId, kind: 'endpoint_event', lane: 'normal', payload: { id: item.id } },
      ],
    },
    metrics: { delivery: { message: () => void counted++ } },
  } as unknown as EmitContext;
  const now = 1_000;
  const item = (i: number, readAt = now): MarkedItem => ({
    tenantId: 't',
    id: `msg_${i}`,
    eventId: 'evt',
    subscriberId: 'u',
    channel: 'in_app',
    workflow: 'w',
    status: 'read',
    readAt,
  });
  // Two read before (not this read-all's) are left out.
  const items = [...Array.from({ length: 2_500 }, (_, i) => item(i)), item(9_998, 5), item(9_999, 5)];
  await emitInboxReads(context, items, now);
  expect(writes).toEqual([1_000, 1_000, 500]);
  expect(counted).toBe(2_500);
});
