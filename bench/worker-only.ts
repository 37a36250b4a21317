import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InboxFeed } from '../src/inbox/feed.ts';
import { pipelineHandlers } from '../src/pipeline/index.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { JobSignal } from '../src/queue/signal.ts';
import { Worker } from '../src/queue/worker.ts';
import { newId } from '../src/shared/ids.ts';
import type { AcceptEvent, Store } from '../src/store/port.ts';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { TemplateCache } from '../src/templates/render.ts';
import type { Scenario } from './scenarios.ts';
import { fmt } from './stats.ts';

const TENANT = 'bench';
const DAY = 86_400_000;

function event(to: AcceptEvent['input']['to'], n: number): AcceptEvent {
  const id = newId('evt');
  const subscriberIds = to.filter((r): r is string => typeof r === 'string');
  return {
    tenantId: TENANT,
    id,
    input: { workflow: 'bench', to, data: { n, order: `A-${n}` } },
    idempotencyKey: null,
    payloadHash: null,
    now: Date.now(),
    inlineSubscribers: [],
    subscriberIds,
    job: { kind: 'fanout', runAt: null },
  };
}

/** Runs the pipeline's workers in this process on a pre-filled queue; answers ms until it drained. */
async function drain(store: Store): Promise<number> {
  const signal = new JobSignal();
  const logger = silentLogger();
  const providers = new ProviderRegistry(store, Buffer.alloc(32));
  const handlers = pipelineHandlers({
    store,
    signal,
    templates: new TemplateCache(),
    providers,
    inboxFeed: new InboxFeed(),
  });
  const worker = new Worker({ store, signal, logger, handlers });
  const started = performance.now();
  await worker.start();
  for (;;) {
    const jobs = await store.countJobs();
    if (jobs.ready + jobs.leased === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const elapsed = performance.now() - started;
  await worker.stop();
  return elapsed;
}

/**
 * The queue and pipeline alone — no HTTP, no other thread — so changes to the hot path can be
 * compared with less noise. Every run checks that it wrote every inbox row it should have.
 */
export const workerOnly: Scenario = {
  name: 'worker',
  description: 'workers alone on a pre-filled queue (in this process): one-recipient events, then a topic',
  async run(ctx) {
    const events = ctx.options.quick ? 10_000 : 50_000;
    const members = ctx.options.quick ? 20_000 : 100_000;
    for (const shape of ['one-recipient events', 'topic members'] as const) {
      const dir = mkdtempSync(path.join(ctx.options.tmpRoot ?? tmpdir(), 'tidings-bench-worker-'));
      const store = openSqliteStore({ file: path.join(dir, 'tidings.db') });
      try {
        await store.ensureTenant(TENANT, TENANT);
        const template = { title: 'Hi {{ data.n }}', body: 'Order {{ data.order }}' };
        await store.putWorkflow(TENANT, 'bench', { channels: [{ channel: 'in_app', template }] }, Date.now());
        let expected: number;
        if (shape === 'one-recipient events') {
          for (let i = 0; i < events; i += 1000) {
            const batch = Array.from({ length: 1000 }, (_, j) => event([`user_${(i + j) % 10_000}`], i + j));
            await store.acceptEvents(batch, DAY);
          }
          expected = events;
        } else {
          await store.upsertTopic(TENANT, 'all', null, Date.now());
          for (let i = 0; i < members; i += 10_000) {
            const ids = Array.from({ length: Math.min(10_000, members - i) }, (_, j) => `m_${i + j}`);
            await store.addTopicMembers(TENANT, 'all', ids, Date.now());
          }
          await store.acceptEvents([event([{ topic: 'all' }], 0)], DAY);
          expected = members;
        }
        ctx.log(`${shape}: queue filled, ${fmt(expected)} inbox rows to write`);
        const ms = await drain(store);
        const written = (
          await store.listMessages({ tenantId: TENANT, channel: 'in_app', limit: expected + 1 })
        ).length;
        const rate = (written / ms) * 1000;
        ctx.log(`${shape}: ${fmt(written)} inbox rows in ${fmt(ms / 1000, 2)} s → ${fmt(rate)}/s`);
        ctx.row(`${shape}: deliveries`, rate, 'deliveries/s');
        ctx.row(`${shape}: inbox rows missing`, expected - written, '', { op: '==', value: 0 });
      } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  },
};
