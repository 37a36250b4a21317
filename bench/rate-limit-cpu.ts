/**
 * CPU time of a delivery batch's rate limits alone (applyRateLimits and the SQLite counter store),
 * for 100,000 recipients with one in-app message each, in batches of 2,000, under the e2e policy
 * run's limit (per subscriber, 1,000 per hour), on a fresh SQLite file. No HTTP, no rendering, no
 * message writes: the process's own CPU time moves far less with a busy machine than throughput
 * does, so an A/B of the policy path reads in a few runs.
 *
 *   node ./bin/run-ts.mjs bench/rate-limit-cpu.ts [checkout]   # another checkout's src/, e.g. a base worktree
 *
 * Passes: every counter new (a first event to each recipient), then the same recipients again
 * (every counter in its window), each for two tenants in turn (the second on a bigger table).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..'));
const { openSqliteStore } = await import(path.join(root, 'src/store/sqlite/index.ts'));
const { applyRateLimits } = await import(path.join(root, 'src/pipeline/rate-limits.ts'));
const RECIPIENTS = 100_000;
const BATCH = 2_000;
const workflow = {
  key: 'bench',
  definition: { channels: [], rateLimit: [{ per: 'subscriber', limit: 1000, window: '1h' }] },
};

function batch(from: number) {
  const messages = [];
  for (let i = from; i < from + BATCH; i++) {
    const record = {
      subscriberId: `member_${i}`,
      status: 'delivered',
      channel: 'in_app',
      deviceId: null,
      timeline: [],
    };
    messages.push({ record, followUp: null });
  }
  return messages;
}

const dir = mkdtempSync(path.join(tmpdir(), 'tidings-rate-limit-cpu-'));
const store = openSqliteStore({ file: path.join(dir, 'bench.db') });
try {
  const now = Date.now();
  for (const tenant of ['tenant_a', 'tenant_b']) {
    await store.ensureTenant(tenant, tenant);
    for (const pass of ['new counters', 'counters in their window']) {
      const cpu = process.cpuUsage();
      for (let from = 0; from < RECIPIENTS; from += BATCH) {
        const spans = [{ tenantId: tenant, workflow, start: 0, end: BATCH }];
        await applyRateLimits(store, spans, batch(from), now);
      }
      const used = process.cpuUsage(cpu);
      const us = (used.user + used.system) / RECIPIENTS;
      console.log(`${tenant}, ${pass}: ${us.toFixed(2)} µs CPU per recipient`);
    }
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
