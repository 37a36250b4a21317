import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

/** Prometheus metrics of this process (served at /metrics). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tidings_' });
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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
