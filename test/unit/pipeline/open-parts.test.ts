import { describe, expect, it } from 'vitest';
import type { DeliveryTarget } from '../../../src/pipeline/deliver.ts';
import { fallbackJob } from '../../../src/pipeline/fallback-timers.ts';
import { deliveryPartsChanges, eventKey, fallbackPartsOf } from '../../../src/pipeline/open-parts.ts';
import type { EventRecord, WorkflowRecord } from '../../../src/shared/model.ts';

// Which part changes a delivery write makes (open-parts.ts), as pure decisions.

const event = (id: string, countsEveryPart = false): EventRecord => ({
  tenantId: 't1',
  id,
  workflow: 'w',
  payload: { workflow: 'w', to: ['u1'] },
  priority: 'normal',
  status: 'accepted',
  createdAt: 0,
  workflowVersion: 1,
  openParts: 1,
  countsEveryPart,
});

const target = (of: EventRecord, job: number): DeliveryTarget => ({
  event: of,
  workflow: { definition: { channels: [] } } as unknown as WorkflowRecord,
  subscriberIds: ['u1'],
  job,
});

describe('delivery part changes', () => {
  it('writes nothing for an event delivered by its first job alone, unless the write queues its fallback', () => {
    const alone = event('evt_1');
    const waiting = event('evt_2');
    const targets = [target(alone, 1), target(waiting, 1)];
    const made = new Set([eventKey(alone), eventKey(waiting)]);
    expect(deliveryPartsChanges(targets, [], made)).toEqual([]);
    // Its fallback job opens a part as it is inserted (migration 050): the event's own change is
    // written first, so PostgreSQL locks its row in key order with the write's other events.
    const fallbacks = fallbackPartsOf([
      fallbackJob({ tenantId: 't1', eventId: 'evt_2', subscriberId: 'u1' }, 1, 'normal', 5),
    ]);
    expect(fallbacks).toEqual(new Set([eventKey(waiting)]));
    const send = { tenantId: 't1', kind: 'send', lane: 'normal' as const, payload: { eventId: 'evt_1' } };
    expect(deliveryPartsChanges(targets, [], made, fallbackPartsOf([send]))).toEqual([]);
    expect(deliveryPartsChanges(targets, [], made, fallbacks)).toEqual([
      { jobId: 1, tenantId: 't1', eventId: 'evt_2', by: -1 },
    ]);
  });
});
