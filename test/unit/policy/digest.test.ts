import { describe, expect, it } from 'vitest';
import {
  DIGEST_EVENTS_IN_SCOPE,
  digestJoinReason,
  digestScope,
  digestWindowMs,
  OldestEvents,
  oldestFirst,
  storedDigestKey,
} from '../../../src/policy/digest.ts';
import { PersonalData } from '../../../src/security/personal-data.ts';

describe('digestWindowMs', () => {
  it.each([
    ['1s', 1000],
    ['1000ms', 1000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['168h', 604_800_000],
  ])('%s is %d ms', (window, ms) => {
    expect(digestWindowMs(window)).toBe(ms);
  });

  it.each(['999ms', '0s', '8d', '169h', '604800001ms', '1w', '', 'soon', '99999999999999999999d'])(
    'refuses %j (not a duration from 1s to 7d)',
    (window) => {
      expect(digestWindowMs(window)).toBeNull();
    },
  );
});

describe('storedDigestKey', () => {
  const personal = new PersonalData();

  it('stores a key as its keyed hash, whatever its length; the empty key stays empty', () => {
    expect(storedDigestKey('', personal)).toBe('');
    expect(storedDigestKey('ada@example.com', personal)).toMatch(/^k:[0-9a-f]{64}$/);
    expect(storedDigestKey('y'.repeat(100_000), personal)).toMatch(/^k:[0-9a-f]{64}$/);
  });

  it('meets equal keys and keeps different ones apart; another installation hashes differently', () => {
    expect(storedDigestKey('thread 42', personal)).toBe(storedDigestKey(`thread ${42}`, personal));
    expect(storedDigestKey('thread 43', personal)).not.toBe(storedDigestKey('thread 42', personal));
    const other = new PersonalData();
    expect(storedDigestKey('thread 42', other)).not.toBe(storedDigestKey('thread 42', personal));
  });
});

describe('digestJoinReason', () => {
  it("names the window's close", () => {
    expect(digestJoinReason(Date.parse('2026-05-01T10:00:00Z'))).toBe(
      'digest: gathered into the digest closing at 2026-05-01T10:00:00.000Z',
    );
  });
});

describe('oldestFirst and digestScope', () => {
  const event = (id: string, createdAt: number, n: number) => ({ id, createdAt, data: { n } });

  it('orders by event time, then id, whatever the order events joined in', () => {
    const events = [
      event('evt_c', 20, 3),
      event('evt_b', 10, 2),
      event('evt_a', 10, 1),
      event('evt_d', 5, 0),
    ];
    expect(oldestFirst(events).map((e) => e.id)).toEqual(['evt_d', 'evt_a', 'evt_b', 'evt_c']);
    // The input is left as it was.
    expect(events[0]!.id).toBe('evt_c');
  });

  it('counts every event and lists the data of the first DIGEST_EVENTS_IN_SCOPE', () => {
    expect(digestScope([])).toEqual({ count: 0, events: [] });
    expect(digestScope([event('e1', 1, 1), event('e2', 2, 2)])).toEqual({
      count: 2,
      events: [{ n: 1 }, { n: 2 }],
    });
    const many = Array.from({ length: DIGEST_EVENTS_IN_SCOPE + 5 }, (_, i) => event(`e${i}`, i, i));
    const scope = digestScope(many);
    expect(scope.count).toBe(DIGEST_EVENTS_IN_SCOPE + 5);
    expect(scope.events).toHaveLength(DIGEST_EVENTS_IN_SCOPE);
    expect(scope.events.at(-1)).toEqual({ n: DIGEST_EVENTS_IN_SCOPE - 1 });
  });
});

describe('OldestEvents', () => {
  it('counts every event and keeps the oldest DIGEST_EVENTS_IN_SCOPE, oldest first, whatever order the chunks come in', () => {
    const events = Array.from({ length: 1_250 }, (_, i) => ({
      id: `evt_${String(i).padStart(5, '0')}`,
      createdAt: 1_000 + i,
    }));
    const shuffled = [...events].sort(
      (a, b) => ((a.createdAt * 7919) % 1_250) - ((b.createdAt * 7919) % 1_250),
    );
    const gathered = new OldestEvents<(typeof events)[number]>();
    for (let from = 0; from < shuffled.length; from += 500) gathered.add(shuffled.slice(from, from + 500));
    expect(gathered.count).toBe(1_250);
    expect(gathered.oldest).toEqual(events.slice(0, DIGEST_EVENTS_IN_SCOPE));
    expect(
      digestScope(
        gathered.oldest.map((e) => ({ ...e, data: { n: e.createdAt } })),
        gathered.count,
      ),
    ).toEqual({
      count: 1_250,
      events: events.slice(0, DIGEST_EVENTS_IN_SCOPE).map((e) => ({ n: e.createdAt })),
    });
  });
});
