import { describe, expect, it } from 'vitest';
import { DEFAULT_BREAKER } from '../../../src/providers/circuit-breaker.ts';
import { EndpointCircuits, type EndpointPermit } from '../../../src/webhooks/endpoint-circuits.ts';

const endpoint = { tenantId: 'ten_a', id: 'orders', url: 'https://hooks.example.com/in' };
const failed = { ok: false, latencyMs: 20 };

function failFiveTimes(circuits: EndpointCircuits, now: number) {
  for (let i = 0; i < 5; i++) {
    const permit = circuits.admit(endpoint, now) as EndpointPermit;
    expect(permit.admitted).toBe(true);
    circuits.record(endpoint, permit, failed, now);
  }
}

describe('EndpointCircuits', () => {
  it('opens after five failed calls, refuses until the cool-down ends, then lets probes go', () => {
    const circuits = new EndpointCircuits();
    failFiveTimes(circuits, 1_000);
    expect(circuits.admit(endpoint, 1_001)).toEqual({ admitted: false });
    expect(circuits.state(endpoint)).toMatchObject({ state: 'open', failures: 5 });
    const probe = circuits.admit(endpoint, 1_000 + DEFAULT_BREAKER.coolDownMs) as EndpointPermit;
    expect(probe).toEqual({ admitted: true, probe: true });
    circuits.record(endpoint, probe, { ok: true, latencyMs: 5 }, 1_000 + DEFAULT_BREAKER.coolDownMs);
    expect(circuits.state(endpoint).state).toBe('closed');
  });

  it('keys circuits by tenant, endpoint and URL: another tenant, or a new URL, starts closed', () => {
    const circuits = new EndpointCircuits();
    failFiveTimes(circuits, 0);
    expect(circuits.admit({ ...endpoint, tenantId: 'ten_b' }, 1).admitted).toBe(true);
    expect(circuits.admit({ ...endpoint, url: 'https://hooks.example.com/v2' }, 1).admitted).toBe(true);
    expect(circuits.admit(endpoint, 1).admitted).toBe(false);
  });

  it('a ping answered 2xx closes an open circuit; a failed one leaves it open', () => {
    const circuits = new EndpointCircuits();
    failFiveTimes(circuits, 0);
    circuits.pinged(endpoint, false);
    expect(circuits.admit(endpoint, 1).admitted).toBe(false);
    circuits.pinged(endpoint, true);
    expect(circuits.admit(endpoint, 2)).toEqual({ admitted: true, probe: false });
  });
});

describe('EndpointCircuits.release', () => {
  it('gives a probe that was never made its place back, so the circuit does not stay half-open', () => {
    const circuits = new EndpointCircuits();
    failFiveTimes(circuits, 0);
    const at = DEFAULT_BREAKER.coolDownMs;
    for (let i = 0; i < DEFAULT_BREAKER.probes; i++) {
      const probe = circuits.admit(endpoint, at) as EndpointPermit;
      expect(probe).toEqual({ admitted: true, probe: true });
      circuits.release(endpoint, probe);
    }
    expect(circuits.admit(endpoint, at)).toEqual({ admitted: true, probe: true });
  });
});
