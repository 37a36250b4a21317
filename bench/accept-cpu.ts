/**
 * CPU time of `store.acceptEvents` alone, per event, for events that name their recipient inline
 * with an email (what `--inline-emails` sends): sealing, keyed hashes, the subscriber upsert and
 * the event row, on a fresh SQLite file, 10,000 distinct recipients. No HTTP, no worker, no
 * bench client on the same cores: the process's own CPU time moves far less with a busy machine
 * than throughput does, so an A/B of the accept path reads in a few runs.
 *
 *   node ./bin/run-ts.mjs bench/accept-cpu.ts [checkout]   # another checkout's src/, e.g. a base worktree
 *
 * Shapes: 100,000 events in batches of 1,000 (as `e2e-bulk` groups them) and 40,000 in batches of
 * 16 (as concurrent single POSTs group). Both include the commits, so fsync's system time counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..'));
const { openSqliteStore } = await import(path.join(root, 'src/store/sqlite/index.ts'));
const { newId } = await import(path.join(root, 'src/shared/ids.ts'));
const TENANT = 'bench';
const RECIPIENTS = 10_000;

function event(n: number) {
  const id = `user_${n % RECIPIENTS}`;
  const email = `${id}@bench.example.com`;
  return {
    tenantId: TENANT,
    id: newId('evt'),
    input: { workflow: 'bench', to: [{ subscriberId: id, email }], data: { n, order: `A-${n}` } },
    idempotencyKey: null,
    payloadHash: null,
    now: Date.now(),
    inlineSubscribers: [{ id, email }],
    subscriberIds: [],
    job: { kind: 'fanout', runAt: null },
  };
}

async function shape(name: string, events: number, batch: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-accept-cpu-'));
  const store = openSqliteStore({ file: path.join(dir, 'tidings.db') });
  try {
    await store.ensureTenant(TENANT, TENANT);
    const template = { title: 'Hi {{ data.n }}', body: 'Order {{ data.order }}' };
    await store.putWorkflow(TENANT, 'bench', { channels: [{ channel: 'in_app', template }] }, Date.now());
    const before = process.cpuUsage();
    for (let i = 0; i < events; i += batch)
      await store.acceptEvents(
        Array.from({ length: batch }, (_, j) => event(i + j)),
        86_400_000,
      );
    const used = process.cpuUsage(before);
    console.log(`${name}: ${((used.user + used.system) / events).toFixed(1)} µs CPU per event`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`accept path of ${root}`);
await shape('warm-up (not counted)', 20_000, 1000);
await shape('100,000 events in batches of 1,000', 100_000, 1000);
await shape('40,000 events in batches of 16', 40_000, 16);
