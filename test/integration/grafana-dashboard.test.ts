import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/child.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * docs/grafana-dashboard.json cannot rot: every metric its queries name is one a running server
 * exports, and every label its queries filter or group a metric by is one that metric carries.
 */

const DASHBOARD = path.join(REPO_ROOT, 'docs', 'grafana-dashboard.json');

/** Labels Prometheus adds when it scrapes, and the histogram's bucket bound. */
const SCRAPE_LABELS = new Set(['job', 'instance', 'le']);

/** Every PromQL expression of the dashboard: panel targets and templating queries. */
function expressions(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) expressions(item, found);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'query' || key === 'definition') && typeof value === 'string')
        found.push(value);
      else expressions(value, found);
    }
  }
  return found;
}

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  // A message on each kind of path (in-app; email through the sandbox provider) and an API
  // error, so the counters, the provider answers and the latency histogram have samples.
  const workflow = {
    channels: [
      { channel: 'in_app', template: { title: 'Hi' } },
      { channel: 'email', template: { subject: 'Hi', text: 'Hi' } },
    ],
  };
  expect((await server.call('PUT', '/v1/workflows/dash', workflow)).status).toBe(200);
  const event = await server.call('POST', '/v1/events', {
    workflow: 'dash',
    to: [{ subscriberId: 'dana', email: 'dana@example.com' }],
  });
  expect(event.status).toBe(202);
  expect(
    (await server.call('GET', '/v1/workflows/dash', undefined, { auth: 'tdk_wrong_key_0123456789' })).status,
  ).toBe(401);
  // Both sends counted: the in-app delivery's latency can reach /metrics before the email's
  // provider answer does (on PostgreSQL the worker publishes them apart).
  await waitFor(
    async () => {
      const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
      return (
        text.includes('tidings_delivery_latency_seconds_bucket{') &&
        /^tidings_provider_requests_total\{[^}]*\} [1-9]/m.test(text)
      );
    },
    'the deliveries to reach /metrics',
    20_000,
  );
});

afterAll(async () => {
  await server?.close();
});

describe('docs/grafana-dashboard.json', () => {
  it('queries only metrics (and labels) the server exports at /metrics', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    expect(dashboard.panels.length).toBeGreaterThan(10);
    const queries = expressions(dashboard);
    expect(queries.length).toBeGreaterThan(15);

    const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
    /** Exported series names (a histogram's _bucket, _sum, _count) → the labels seen on its samples. */
    const exported = new Map<string, Set<string>>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const names = type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => name + s) : [name!];
      for (const series of names) exported.set(series, new Set());
    }
    for (const [, name, labels] of text.matchAll(/^([a-z_:][a-z0-9_:]*)\{([^}]*)\}/gm)) {
      for (const [, label] of labels!.matchAll(/([a-z_][a-z0-9_]*)="/g)) exported.get(name!)?.add(label!);
    }

    const referenced = new Set(queries.flatMap((q) => q.match(/\btidings_[a-z0-9_]+/g) ?? []));
    // The contract's metrics (docs/metrics.md) are all on the dashboard.
    for (const name of [
      'tidings_messages_total',
      'tidings_events_accepted_total',
      'tidings_delivery_latency_seconds_bucket',
      'tidings_queue_depth',
      'tidings_queue_lag_seconds',
      'tidings_integration_circuit_state',
      'tidings_provider_requests_total',
      'tidings_http_errors_total',
    ])
      expect(referenced, name).toContain(name);
    expect([...referenced].filter((name) => !exported.has(name))).toEqual([]);

    // The label checks below have samples to check against (a circuit is only there once published).
    for (const name of [
      'tidings_messages_total',
      'tidings_provider_requests_total',
      'tidings_http_errors_total',
    ])
      expect(exported.get(name)?.size, name).toBeGreaterThan(0);

    // Labels in selectors and in by (...): each must be one the metric's samples carry.
    const wrong: string[] = [];
    for (const query of queries) {
      for (const [, name, selector] of query.matchAll(/\b(tidings_[a-z0-9_]+)\{([^}]*)\}/g)) {
        const known = exported.get(name!)!;
        if (known.size === 0) continue; // no samples yet (no circuit published): names checked above
        for (const [, label] of selector!.matchAll(/([a-z_]+)\s*(?:=~|!=|!~|=)/g))
          if (!SCRAPE_LABELS.has(label!) && !known.has(label!)) wrong.push(`${name}{${label}} in ${query}`);
      }
      const metrics = query.match(/\btidings_[a-z0-9_]+/g) ?? [];
      for (const [, grouped] of query.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const label of grouped!.split(',').map((l) => l.trim())) {
          if (SCRAPE_LABELS.has(label)) continue;
          const carriers = metrics.filter((m) => (exported.get(m)?.size ?? 0) > 0);
          if (carriers.length > 0 && !carriers.some((m) => exported.get(m)!.has(label)))
            wrong.push(`by (${label}) in ${query}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
