import { describe, expect, it } from 'vitest';
import { DeliveryTally, LATENCY_BUCKETS, splitKey } from '../../../src/telemetry/delivery-tally.ts';

describe('DeliveryTally', () => {
  it('counts per label pair and hands its counts over once', () => {
    const thread = new DeliveryTally();
    thread.message('email', 'sent');
    thread.message('email', 'sent');
    thread.message('sms', 'failed');
    thread.providerRequest('smtp', 'accepted');
    const taken = thread.take()!;
    expect(taken.messages.map(([k, n]) => [...splitKey(k), n])).toEqual([
      ['email', 'sent', 2],
      ['sms', 'failed', 1],
    ]);
    expect(taken.providerRequests.map(([k, n]) => [...splitKey(k), n])).toEqual([['smtp', 'accepted', 1]]);
    expect(thread.take()).toBeNull();

    const api = new DeliveryTally();
    api.message('email', 'sent');
    api.add(taken);
    api.add(taken);
    expect(api.snapshot().messages.map(([k, n]) => [...splitKey(k), n])).toEqual([
      ['email', 'sent', 5],
      ['sms', 'failed', 2],
    ]);
  });

  it('puts latencies in the first bucket whose bound holds them, past the last in +Inf', () => {
    const tally = new DeliveryTally();
    tally.latency('push', 'critical', 10); // 0.01 s: on the first bound
    tally.latency('push', 'critical', 700); // 0.7 s: the 1 s bucket
    tally.latency('push', 'critical', 7_200_000); // 2 h: +Inf
    tally.latency('push', 'critical', -5); // a clock step back counts as 0
    const [[key, slot]] = tally.snapshot().latency as [
      [string, { buckets: number[]; sum: number; count: number }],
    ];
    expect(splitKey(key)).toEqual(['push', 'critical']);
    expect(slot.count).toBe(4);
    expect(slot.sum).toBeCloseTo(0.01 + 0.7 + 7200);
    expect(slot.buckets[0]).toBe(2);
    expect(slot.buckets[LATENCY_BUCKETS.indexOf(1)]).toBe(1);
    expect(slot.buckets[LATENCY_BUCKETS.length]).toBe(1);
    expect(slot.buckets.reduce((a, b) => a + b, 0)).toBe(4);
  });
});
