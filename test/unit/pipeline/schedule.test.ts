import { describe, expect, it } from 'vitest';
import type { DeliveryTarget } from '../../../src/pipeline/deliver.ts';
import { awaitsSchedule, scheduleStart, splitBySchedule } from '../../../src/pipeline/schedule.ts';
import { spreadOffset } from '../../../src/policy/local-schedule.ts';
import type { EventInput, EventRecord, SubscriberRecord, WorkflowRecord } from '../../../src/shared/model.ts';

const ACCEPTED = Date.parse('2026-12-01T12:00:00.000Z');

function event(extra: Partial<EventInput>): EventRecord {
  return {
    tenantId: 't',
    id: 'evt_1',
    workflow: 'w',
    payload: { workflow: 'w', to: [], ...extra },
    priority: 'normal',
    status: 'accepted',
    createdAt: ACCEPTED,
    workflowVersion: 1,
    openParts: 1,
    countsEveryPart: false,
  };
}

function subscriber(id: string, timezone: string | null): SubscriberRecord {
  return {
    tenantId: 't',
    id,
    email: null,
    phone: null,
    locale: null,
    timezone,
    data: {},
    createdAt: 0,
    updatedAt: 0,
  };
}

const target = (e: EventRecord, subscriberIds: string[]): DeliveryTarget => ({
  event: e,
  workflow: {} as WorkflowRecord,
  subscriberIds,
});

describe('scheduleStart', () => {
  it.each([
    [undefined, ACCEPTED], // when it was accepted
    ['2026-12-03T00:00:00.000Z', Date.parse('2026-12-03T00:00:00.000Z')], // sendAt: "not before"
    ['2026-11-01T00:00:00.000Z', ACCEPTED], // a sendAt in the past changes nothing
  ])('sendAt %s → %s', (sendAt, expected) => {
    expect(scheduleStart(event(sendAt === undefined ? {} : { sendAt }))).toBe(expected);
  });
});

describe('splitBySchedule', () => {
  it('groups recipients by instant, in time order, reading zoneless ones (and bad zones) in the tenant’s', () => {
    const e = event({ schedule: { localTime: '09:00' } });
    const people = [
      subscriber('berlin_1', 'Europe/Berlin'),
      subscriber('tokyo_1', 'Asia/Tokyo'),
      subscriber('none_1', null),
      subscriber('bad_1', 'Mars/Olympus'),
      subscriber('berlin_2', 'Europe/Berlin'),
    ];
    const split = splitBySchedule(
      target(
        e,
        people.map((p) => p.id),
      ),
      people,
      'Asia/Tokyo',
    );
    expect(split.map(({ target: t }) => [new Date(t.at!).toISOString(), t.subscriberIds])).toEqual([
      ['2026-12-02T00:00:00.000Z', ['tokyo_1', 'none_1', 'bad_1']], // 09:00 in Tokyo
      ['2026-12-02T08:00:00.000Z', ['berlin_1', 'berlin_2']], // 09:00 in Berlin
    ]);
    expect(split[1]!.subscribers.map((s) => s.id)).toEqual(['berlin_1', 'berlin_2']);
    for (const { target: t } of split) expect(awaitsSchedule(t)).toBe(false);
    expect(awaitsSchedule(target(e, []))).toBe(true);
    expect(awaitsSchedule(target(event({}), []))).toBe(false);
  });

  it('moves each recipient by their place in the spread, one group per distinct second', () => {
    const e = event({ schedule: { localTime: '09:00', spreadOver: '60m' } });
    const people = ['a', 'b', 'c', 'd'].map((id) => subscriber(id, 'UTC'));
    const split = splitBySchedule(target(e, ['a', 'b', 'c', 'd']), people, 'UTC');
    const base = Date.parse('2026-12-02T09:00:00.000Z');
    const expected = new Map<number, string[]>();
    for (const id of ['a', 'b', 'c', 'd']) {
      const at = base + spreadOffset(id, 3_600_000);
      expected.set(at, [...(expected.get(at) ?? []), id]);
    }
    expect(split.map(({ target: t }) => [t.at, t.subscriberIds])).toEqual(
      [...expected.entries()].sort(([x], [y]) => x - y),
    );
    expect(split.length).toBeGreaterThan(1);
  });
});
