import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { CircuitState } from '../shared/model.ts';

const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'half_open', 'open'];

/** Where metrics read state that lives in the store (published by workers on other threads or processes). */
export interface MetricSources {
  /** Every tenant's published circuits. */
  circuits?: () => Promise<readonly { tenantId: string; integrationId: string; state: CircuitState }[]>;
}

/** Prometheus metrics of this process (served at /metrics). */
export function createMetrics(sources: MetricSources = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tidings_' });
  const { circuits } = sources;
  return {
    registry,
    eventsAccepted: new Counter({
      name: 'tidings_events_accepted_total',
      help: 'Events accepted (202), by tenant-independent outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    httpErrors: new Counter({
      name: 'tidings_http_errors_total',
      help: 'API error responses by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    circuitState: circuits
      ? new Gauge({
          name: 'tidings_integration_circuit_state',
          help: 'Circuit breaker state of each integration that has published one: 1 for its current state, 0 for the others',
          labelNames: ['tenant', 'integration', 'state'] as const,
          registers: [registry],
          // Read at scrape time from the store: the breakers live with the workers, wherever they run.
          async collect() {
            this.reset();
            for (const circuit of await circuits()) {
              for (const state of CIRCUIT_STATES) {
                this.set(
                  { tenant: circuit.tenantId, integration: circuit.integrationId, state },
                  circuit.state === state ? 1 : 0,
                );
              }
            }
          },
        })
      : null,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
