import {
  type Admission,
  admit,
  type Breaker,
  type BreakerSettings,
  type Call,
  CLOSED,
  DEFAULT_BREAKER,
  recordCall,
  releaseProbe,
} from '../providers/circuit-breaker.ts';
import type { WebhookEndpointRecord } from '../store/port.ts';

export type EndpointPermit = Extract<Admission, { admitted: true }>;

/**
 * The circuit breakers of the webhook endpoints this worker delivers to, the same pure breaker
 * the providers use (src/providers/circuit-breaker.ts). An endpoint that stopped answering would
 * otherwise get every queued event's attempt, each holding a worker slot until its deadline (a
 * tarpit holds one for 10 s); while its circuit is open, an event's attempt is spent without a
 * request and comes back on the retry schedule, and probes find out when it is back. Kept in
 * memory per worker (as the providers' are): an endpoint whose window holds no failure has no
 * entry, so the map only holds endpoints that failed lately.
 */
export class EndpointCircuits {
  private readonly breakers = new Map<string, Breaker>();

  constructor(private readonly settings: BreakerSettings = DEFAULT_BREAKER) {}

  /** May an event go to this endpoint now? An admitted call must be recorded with `record`. */
  admit(endpoint: EndpointKey, now: number): Admission {
    const key = keyOf(endpoint);
    const current = this.breakers.get(key);
    if (!current) return OPEN_CALL;
    const { breaker, admission } = admit(current, now, this.settings);
    this.breakers.set(key, breaker);
    return admission;
  }

  /** How the admitted call went. */
  record(endpoint: EndpointKey, permit: EndpointPermit, call: Call, now: number): void {
    const key = keyOf(endpoint);
    const next = recordCall(this.breakers.get(key) ?? CLOSED, call, permit, now, this.settings);
    if (next.state === 'closed' && next.failures === 0) this.breakers.delete(key);
    else {
      // Open circuits of endpoints deleted or moved since stay until this: a bound, not a leak.
      if (this.breakers.size >= MAX_REMEMBERED && !this.breakers.has(key)) this.breakers.clear();
      this.breakers.set(key, next);
    }
  }

  /** An admitted call that was never made or never answered: a probe gives its place back. */
  release(endpoint: EndpointKey, permit: EndpointPermit): void {
    if (!permit.probe) return;
    const current = this.breakers.get(keyOf(endpoint));
    if (current) this.breakers.set(keyOf(endpoint), releaseProbe(current));
  }

  /**
   * A test ping went whatever the circuit said (the tenant asked for it): one that got a 2xx
   * closes the circuit, so a fixed endpoint gets its queued events on their next attempt.
   */
  pinged(endpoint: EndpointKey, ok: boolean): void {
    if (ok) this.breakers.delete(keyOf(endpoint));
  }

  /** The endpoint's breaker (closed and clean when it has no entry). */
  state(endpoint: EndpointKey): Breaker {
    return this.breakers.get(keyOf(endpoint)) ?? CLOSED;
  }
}

/** Endpoints whose circuits are remembered at most (an entry only while failing lately). */
const MAX_REMEMBERED = 10_000;

const OPEN_CALL: Admission = Object.freeze({ admitted: true, probe: false });

/** An endpoint as its circuit knows it: a PUT that changes its URL starts a closed one. */
export type EndpointKey = Pick<WebhookEndpointRecord, 'tenantId' | 'id' | 'url'>;

const keyOf = (endpoint: EndpointKey) => `${endpoint.tenantId}\u0000${endpoint.id}\u0000${endpoint.url}`;
