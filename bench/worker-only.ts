import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InboxFeed } from '../src/inbox/feed.ts';
import { pipelineHandlers } from '../src/pipeline/index.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { JobSignal } from '../src/queue/signal.ts';
import { Worker } from '../src/queue/worker.ts';
import { newId } from '../src/shared/ids.ts';
import type { AcceptEvent, PreferencePatch, Store } from '../src/store/port.ts';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { TemplateCache } from '../src/templates/render.ts';
import { holdsPreferences, preferencesOf, suppressed } from './policy.ts';
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

/** Gives every 10th recipient the preferences and the workflow the limit of `--policy` (bench/policy.ts). */
async function applyPolicy(store: Store, recipients: string[]): Promise<number> {
  const template = { title: 'Hi {{ data.n }}', body: 'Order {{ data.order }}' };
  await store.putWorkflow(
    TENANT,
    'bench',
    {
      channels: [{ channel: 'in_app', template }],
      rateLimit: [{ per: 'subscriber', limit: 1000, window: '1h' }],
    },
    Date.now(),
  );
  let suppressedRecipients = 0;
  for (const [index, id] of recipients.entries()) {
    if (!holdsPreferences(index)) continue;
    await store.patchPreferences(TENANT, id, preferencesOf(index) as PreferencePatch, Date.now());
    if (suppressed(index)) suppressedRecipients++;
  }
  return suppressedRecipients;
}

/**
 * The queue and pipeline alone — no HTTP, no other thread — so changes to the hot path can be
 * compared with less noise than the end-to-end scenarios. Every run checks that it wrote every
 * inbox row it should have. With `--policy`, each shape runs again with the workflow's rate limit
 * and preferences for one recipient in ten (as `e2e-* with policy`), right after the plain run.
 */
export const workerOnly: Scenario = {
  name: 'worker',
  description: 'workers alone on a pre-filled queue (in this process): one-recipient events, then a topic',
  async run(ctx) {
    const events = ctx.options.quick ? 10_000 : 50_000;
    const members = ctx.options.quick ? 20_000 : 100_000;
    for (const shape of ['one-recipient events', 'topic members'] as const) {
      const rates = new Map<boolean, number>();
      for (const policy of ctx.options.policy ? [false, true] : [false]) {
        const suffix = policy ? ' with policy' : '';
        const dir = mkdtempSync(path.join(ctx.options.tmpRoot ?? tmpdir(), 'tidings-bench-worker-'));
        const store = openSqliteStore({ file: path.join(dir, 'tidings.db') });
        try {
          await store.ensureTenant(TENANT, TENANT);
          const template = { title: 'Hi {{ data.n }}', body: 'Order {{ data.order }}' };
          await store.putWorkflow(
            TENANT,
            'bench',
            { channels: [{ channel: 'in_app', template }] },
            Date.now(),
          );
          let expected: number;
          let recipients: string[];
          if (shape === 'one-recipient events') {
            recipients = Array.from({ length: Math.min(events, 10_000) }, (_, k) => `user_${k}`);
            // The recipients exist in both runs: the policy run needs them for their preferences.
            await store.loadOrCreateSubscribers(TENANT, recipients, Date.now());
          } else {
            recipients = Array.from({ length: members }, (_, k) => `m_${k}`);
          }
          const suppressedRecipients = policy ? await applyPolicy(store, recipients) : 0;
          if (shape === 'one-recipient events') {
            for (let i = 0; i < events; i += 1000) {
              const batch = Array.from({ length: 1000 }, (_, j) =>
                event([`user_${(i + j) % 10_000}`], i + j),
              );
              await store.acceptEvents(batch, DAY);
            }
            expected = events;
          } else {
            await store.upsertTopic(TENANT, 'all', null, Date.now());
            for (let i = 0; i < members; i += 10_000) {
              await store.addTopicMembers(TENANT, 'all', recipients.slice(i, i + 10_000), Date.now());
            }
            await store.acceptEvents([event([{ topic: 'all' }], 0)], DAY);
            expected = members;
          }
          const expectedSuppressed = (suppressedRecipients * expected) / recipients.length;
          ctx.log(`${shape}${suffix}: queue filled, ${fmt(expected)} in-app messages to write`);
          const ms = await drain(store);
          const written = await store.listMessages({
            tenantId: TENANT,
            channel: 'in_app',
            limit: expected + 1,
          });
          const suppressedRows = written.filter((m) => m.status === 'suppressed').length;
          const rate = (written.length / ms) * 1000;
          ctx.log(
            `${shape}${suffix}: ${fmt(written.length)} in-app messages (${fmt(suppressedRows)} suppressed) ` +
              `in ${fmt(ms / 1000, 2)} s → ${fmt(rate)}/s`,
          );
          ctx.row(`${shape}: deliveries${suffix}`, rate, 'deliveries/s');
          ctx.row(`${shape}: inbox rows missing${suffix}`, expected - written.length, '', {
            op: '==',
            value: 0,
          });
          if (policy) {
            ctx.row(`${shape}: suppressed${suffix}`, suppressedRows, '', {
              op: '==',
              value: expectedSuppressed,
            });
          }
          rates.set(policy, rate);
        } finally {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }
      const plain = rates.get(false);
      const withPolicy = rates.get(true);
      if (plain !== undefined && withPolicy !== undefined) {
        ctx.row(`${shape}: with policy / without`, withPolicy / plain, '×', { op: '>=', value: 0.9 });
      }
    }
  },
};
