import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { CircuitState } from '../shared/model.ts';
import type { QueueStats } from '../store/port.ts';
import { DeliveryTally, LATENCY_BUCKETS, splitKey } from './delivery-tally.ts';

const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'half_open', 'open'];

/** Most due jobs a scrape counts per lane: the depth query reads at most this many index entries. */
export const QUEUE_DEPTH_CAP = 100_000;
/** Most dead jobs a scrape counts (the newest): a number past it already says what it has to. */
export const DEAD_JOBS_CAP = 10_000;

/** Where metrics read state that lives in the store (published by workers on other threads or processes). */
export interface MetricSources {
  /** Every tenant's published circuits. */
  circuits?: () => Promise<readonly { tenantId: string; integrationId: string; state: CircuitState }[]>;
  /** The queue's backlog per lane (JobStore.queueStats), read at scrape time. */
  queue?: (now: number, cap: number) => Promise<readonly QueueStats[]>;
  /** Dead jobs by kind (JobStore.deadJobsByKind), read at scrape time. */
  deadJobs?: (cap: number) => Promise<readonly { kind: string; dead: number }[]>;
}

/**
 * `tidings_delivery_latency_seconds` as a histogram built from the tally's bucket counts: the
 * workers count into buckets on their own threads, so prom-client's Histogram (which only takes
 * observations) cannot hold the merged counts. The registry asks it for its values like any metric.
 */
function latencyHistogram(tally: DeliveryTally) {
  const name = 'tidings_delivery_latency_seconds';
  return {
    name,
    help: 'Seconds from an event being accepted to each of its messages first going out (sent; delivered for in-app)',
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const [key, slot] of tally.snapshot().latency) {
        const [channel, lane] = splitKey(key);
        let cumulative = 0;
        for (const [i, bound] of [...LATENCY_BUCKETS, Number.POSITIVE_INFINITY].entries()) {
          cumulative += slot.buckets[i] ?? 0;
          values.push({
            metricName: `${name}_bucket`,
            labels: { channel, lane, le: bound === Number.POSITIVE_INFINITY ? '+Inf' : bound },
            value: cumulative,
          });
        }
        values.push({ metricName: `${name}_sum`, labels: { channel, lane }, value: slot.sum });
        values.push({ metricName: `${name}_count`, labels: { channel, lane }, value: slot.count });
      }
      return { name, help: this.help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}

/** Prometheus metrics of this process (served at /metrics). */
export function createMetrics(sources: MetricSources = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tidings_' });
  const { circuits, queue, deadJobs } = sources;
  /** Delivery counts of this process: its own, and those its worker threads hand over. */
  const delivery = new DeliveryTally();
  registry.registerMetric(latencyHistogram(delivery) as unknown as Metric);
  // Depth and lag share one bounded read per scrape (both gauges collect within the same moment).
  let queueRead: { at: number; result: Promise<{ now: number; stats: readonly QueueStats[] }> } | null = null;
  const queueStats = queue
    ? () => {
        const now = Date.now();
        if (!queueRead || now - queueRead.at > 250) {
          queueRead = {
            at: now,
            result: queue(now, QUEUE_DEPTH_CAP)
              .then((stats) => ({ now, stats }))
              // A store that cannot answer leaves the gauges out of this scrape rather than failing it.
              .catch(() => ({ now, stats: [] })),
          };
        }
        return queueRead.result;
      }
    : null;
  return {
    registry,
    delivery,
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
    messages: new Counter({
      name: 'tidings_messages_total',
      help: 'Messages entering each status (created with it or changed to it), by channel',
      labelNames: ['channel', 'status'] as const,
      registers: [registry],
      // Read from the tally at scrape time: the hot path only adds to a number.
      collect() {
        this.reset();
        for (const [key, n] of delivery.snapshot().messages) {
          const [channel, status] = splitKey(key);
          this.inc({ channel, status }, n);
        }
      },
    }),
    providerRequests: new Counter({
      name: 'tidings_provider_requests_total',
      help: 'Sends handed to a provider, by provider and outcome (accepted, retryable, permanent, bad_address, blocked_target, opted_out, error)',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, n] of delivery.snapshot().providerRequests) {
          const [provider, outcome] = splitKey(key);
          this.inc({ provider, outcome }, n);
        }
      },
    }),
    endpointDeliveries: new Counter({
      name: 'tidings_webhook_deliveries_total',
      help: "Attempts to deliver status webhooks to tenants' endpoints, by outcome (delivered: a 2xx; failed: no answer or another status; circuit_open: no request, the endpoint's circuit is open)",
      labelNames: ['outcome'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, n] of delivery.snapshot().endpointDeliveries) this.inc({ outcome }, n);
      },
    }),
    queueDepth: queue
      ? new Gauge({
          name: 'tidings_queue_depth',
          help: `Jobs ready and due, per lane (counted up to ${QUEUE_DEPTH_CAP} per lane)`,
          labelNames: ['lane'] as const,
          registers: [registry],
          async collect() {
            for (const lane of (await queueStats!()).stats) this.set({ lane: lane.lane }, lane.due);
          },
        })
      : null,
    queueLag: queue
      ? new Gauge({
          name: 'tidings_queue_lag_seconds',
          help: 'Seconds the oldest due job of each lane has waited past its run time (0 when none waits)',
          labelNames: ['lane'] as const,
          registers: [registry],
          async collect() {
            const { now, stats } = await queueStats!();
            for (const lane of stats)
              this.set(
                { lane: lane.lane },
                lane.oldestRunAt === null ? 0 : Math.max(0, now - lane.oldestRunAt) / 1000,
              );
          },
        })
      : null,
    deadJobs: deadJobs
      ? new Gauge({
          name: 'tidings_jobs_dead',
          help: `Jobs that used up their attempts, by kind, until retention removes them (the newest ${DEAD_JOBS_CAP} counted): a dead send's message is in GET /v1/dead-letters, other kinds only here and in the log`,
          labelNames: ['kind'] as const,
          registers: [registry],
          async collect() {
            this.reset();
            // A store that cannot answer leaves the gauge out of this scrape rather than failing it.
            const counts = await deadJobs(DEAD_JOBS_CAP).catch(() => []);
            for (const { kind, dead } of counts) this.set({ kind }, dead);
          },
        })
      : null,
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
