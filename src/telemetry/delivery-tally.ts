/**
 * Delivery counts kept on the hot path: a Map lookup and an addition per message, nothing that
 * formats labels or allocates per call beyond the key string. Worker threads each keep one and
 * hand what they counted to the API thread's (see `take`/`add`), which /metrics renders.
 */

/** Upper bounds (seconds) of the delivery latency histogram: 10 ms to an hour. */
export const LATENCY_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
] as const;

const SEP = '\u0000';

/** One label set's histogram: counts per bucket (not cumulative; the last is +Inf), sum and count. */
export interface LatencySlot {
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * How one attempt to deliver a status webhook went: a 2xx, anything else (no answer, another
 * status), or no request at all because the endpoint's circuit is open.
 */
export type EndpointDeliveryOutcome = 'delivered' | 'failed' | 'circuit_open';

/** What a tally counted, as plain data (structured-clone safe, for postMessage). */
export interface TallySnapshot {
  messages: [string, number][];
  providerRequests: [string, number][];
  endpointDeliveries: [string, number][];
  latency: [string, LatencySlot][];
}

function emptySlot(): LatencySlot {
  return { buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
}

function bucketOf(seconds: number): number {
  let i = 0;
  while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
  return i;
}

export class DeliveryTally {
  private messages = new Map<string, number>();
  private providerRequests = new Map<string, number>();
  private endpointDeliveries = new Map<string, number>();
  private latencies = new Map<string, LatencySlot>();

  /** A message entered `status` on `channel` (created with it, or changed to it). */
  message(channel: string, status: string): void {
    const key = channel + SEP + status;
    this.messages.set(key, (this.messages.get(key) ?? 0) + 1);
  }

  /** A provider answered a send (`outcome`: accepted, retryable, permanent, … or error). */
  providerRequest(provider: string, outcome: string): void {
    const key = provider + SEP + outcome;
    this.providerRequests.set(key, (this.providerRequests.get(key) ?? 0) + 1);
  }

  /** An attempt to deliver a status webhook to a tenant's endpoint ended so. */
  endpointDelivery(outcome: EndpointDeliveryOutcome): void {
    this.endpointDeliveries.set(outcome, (this.endpointDeliveries.get(outcome) ?? 0) + 1);
  }

  /** A message first went out (sent, or delivered for in-app), `ms` after its event was accepted. */
  latency(channel: string, lane: string, ms: number): void {
    const key = channel + SEP + lane;
    let slot = this.latencies.get(key);
    if (!slot) {
      slot = emptySlot();
      this.latencies.set(key, slot);
    }
    const seconds = Math.max(0, ms) / 1000;
    slot.buckets[bucketOf(seconds)]!++;
    slot.sum += seconds;
    slot.count++;
  }

  /** Everything counted since the last take, then starts again from zero; null when nothing was. */
  take(): TallySnapshot | null {
    if (
      this.messages.size === 0 &&
      this.providerRequests.size === 0 &&
      this.endpointDeliveries.size === 0 &&
      this.latencies.size === 0
    )
      return null;
    const snapshot = this.snapshot();
    this.messages = new Map();
    this.providerRequests = new Map();
    this.endpointDeliveries = new Map();
    this.latencies = new Map();
    return snapshot;
  }

  /** Adds another tally's counts to this one's. */
  add(snapshot: TallySnapshot): void {
    for (const [key, n] of snapshot.messages) this.messages.set(key, (this.messages.get(key) ?? 0) + n);
    for (const [key, n] of snapshot.providerRequests)
      this.providerRequests.set(key, (this.providerRequests.get(key) ?? 0) + n);
    for (const [key, n] of snapshot.endpointDeliveries)
      this.endpointDeliveries.set(key, (this.endpointDeliveries.get(key) ?? 0) + n);
    for (const [key, slot] of snapshot.latency) {
      let mine = this.latencies.get(key);
      if (!mine) {
        mine = emptySlot();
        this.latencies.set(key, mine);
      }
      for (let i = 0; i < mine.buckets.length; i++) mine.buckets[i]! += slot.buckets[i] ?? 0;
      mine.sum += slot.sum;
      mine.count += slot.count;
    }
  }

  /** The counts so far, keys split into their labels (for rendering). */
  snapshot(): TallySnapshot {
    return {
      messages: [...this.messages],
      providerRequests: [...this.providerRequests],
      endpointDeliveries: [...this.endpointDeliveries],
      latency: [...this.latencies].map(([key, slot]) => [key, { ...slot, buckets: [...slot.buckets] }]),
    };
  }
}

/** The two labels a tally key holds. */
export function splitKey(key: string): [string, string] {
  const at = key.indexOf(SEP);
  return [key.slice(0, at), key.slice(at + 1)];
}
