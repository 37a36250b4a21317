import { describe, expect, it } from 'vitest';
import {
  counterScope,
  GRANTED,
  grantRateTakes,
  type RateTake,
  rateLayers,
  windowEnd,
} from '../../../src/policy/rate-limit.ts';

const HOUR = 3_600_000;

describe('rateLayers', () => {
  it('parses windows once and labels each layer for the timeline', () => {
    expect(
      rateLayers([
        { per: 'subscriber', limit: 3, window: '1h' },
        { per: 'subscriber+channel', limit: 10, window: '1d' },
        { per: 'tenant', limit: 1000, window: '90s' },
      ]),
    ).toEqual([
      { per: 'subscriber', limit: 3, windowMs: HOUR, label: 'rate limit per subscriber: 3 per 1h' },
      {
        per: 'subscriber+channel',
        limit: 10,
        windowMs: 24 * HOUR,
        label: 'rate limit per subscriber+channel: 10 per 1d',
      },
      { per: 'tenant', limit: 1000, windowMs: 90_000, label: 'rate limit per tenant: 1000 per 90s' },
    ]);
  });

  it('has no layers without rules, and skips rules that could not count (stored before validation)', () => {
    expect(rateLayers(undefined)).toEqual([]);
    expect(rateLayers([])).toEqual([]);
    expect(
      rateLayers([
        { per: 'subscriber', limit: 3, window: '0h' },
        { per: 'subscriber', limit: 3, window: 'soon' },
        { per: 'subscriber', limit: 0, window: '1h' },
      ]),
    ).toEqual([]);
  });
});

describe('windowEnd', () => {
  it.each([
    ['the first instant of a window', Date.parse('2026-03-01T10:00:00Z'), HOUR, '2026-03-01T11:00:00.000Z'],
    ['inside a window', Date.parse('2026-03-01T10:59:59.999Z'), HOUR, '2026-03-01T11:00:00.000Z'],
    [
      'a day window, aligned to UTC midnight',
      Date.parse('2026-03-01T23:30:00Z'),
      24 * HOUR,
      '2026-03-02T00:00:00.000Z',
    ],
    ['a 90 s window', 100_000, 90_000, '1970-01-01T00:03:00.000Z'],
  ])('ends %s at the next multiple of its length from the epoch', (_, now, length, end) => {
    expect(new Date(windowEnd(now, length)).toISOString()).toBe(end);
  });
});

describe('counterScope', () => {
  const [subscriber, perChannel, tenant] = rateLayers([
    { per: 'subscriber', limit: 3, window: '1h' },
    { per: 'subscriber+channel', limit: 3, window: '1h' },
    { per: 'tenant', limit: 3, window: '1h' },
  ]);

  it('names the recipient for subscriber, the recipient and channel for subscriber+channel, neither for tenant', () => {
    expect(counterScope(subscriber!, 'wf', 'u1', 'email')).toBe(counterScope(subscriber!, 'wf', 'u1', 'sms'));
    expect(counterScope(subscriber!, 'wf', 'u1', null)).not.toBe(counterScope(subscriber!, 'wf', 'u2', null));
    expect(counterScope(perChannel!, 'wf', 'u1', 'email')).not.toBe(
      counterScope(perChannel!, 'wf', 'u1', 'sms'),
    );
    expect(counterScope(tenant!, 'wf', 'u1', null)).toBe(counterScope(tenant!, 'wf', 'u2', null));
  });

  it('keeps workflows, layers and rules apart', () => {
    const scopes = new Set([
      counterScope(subscriber!, 'wf', 'u1', null),
      counterScope(subscriber!, 'other', 'u1', null),
      counterScope(tenant!, 'wf', 'u1', null),
      counterScope(perChannel!, 'wf', 'u1', 'email'),
      counterScope(rateLayers([{ per: 'subscriber', limit: 3, window: '2h' }])[0]!, 'wf', 'u1', null),
      counterScope(rateLayers([{ per: 'subscriber', limit: 4, window: '1h' }])[0]!, 'wf', 'u1', null),
    ]);
    expect(scopes.size).toBe(6);
  });
});

describe('grantRateTakes', () => {
  it('grants up to the limit, then names the full counter', () => {
    const counts = [0];
    const take: RateTake = { shared: [0], parts: [[]] };
    const answers = grantRateTakes(
      counts,
      [3],
      Array.from({ length: 5 }, () => take),
    );
    expect(answers).toEqual([[GRANTED], [GRANTED], [GRANTED], [0], [0]]);
    expect(counts).toEqual([3]);
  });

  it('counts a shared counter once per take, whatever the number of parts', () => {
    const counts = [0];
    const take: RateTake = { shared: [0], parts: [[], [], []] };
    expect(grantRateTakes(counts, [2], [take, take, take])).toEqual([
      [GRANTED, GRANTED, GRANTED],
      [GRANTED, GRANTED, GRANTED],
      [0, 0, 0],
    ]);
    expect(counts).toEqual([2]);
  });

  it('counts each part on its own counters', () => {
    // counter 0: email, 1: sms
    const counts = [0, 1];
    expect(grantRateTakes(counts, [1, 1], [{ shared: [], parts: [[0], [1]] }])).toEqual([[GRANTED, 1]]);
    expect(counts).toEqual([1, 1]);
  });

  it('does not count the shared counters of a take whose every part was refused', () => {
    // counter 0: per subscriber (room left), 1: per subscriber+channel (full)
    const counts = [0, 2];
    expect(grantRateTakes(counts, [5, 2], [{ shared: [0], parts: [[1]] }])).toEqual([[1]]);
    expect(counts).toEqual([0, 2]);
  });

  it('refuses every part when a shared counter is full, and counts none', () => {
    const counts = [1, 0];
    expect(grantRateTakes(counts, [1, 5], [{ shared: [0], parts: [[1], []] }])).toEqual([[0, 0]]);
    expect(counts).toEqual([1, 0]);
  });

  it('answers the first full counter when several are', () => {
    const counts = [3, 3];
    expect(grantRateTakes(counts, [3, 3], [{ shared: [1, 0], parts: [[]] }])).toEqual([[1]]);
  });

  it('sees counts taken earlier in the same batch', () => {
    const counts = [0, 0];
    const answers = grantRateTakes(
      counts,
      [2, 10],
      [
        { shared: [0, 1], parts: [[]] },
        { shared: [1], parts: [[]] },
        { shared: [0, 1], parts: [[]] },
        { shared: [0, 1], parts: [[]] },
      ],
    );
    expect(answers).toEqual([[GRANTED], [GRANTED], [GRANTED], [0]]);
    expect(counts).toEqual([2, 3]);
  });
});
